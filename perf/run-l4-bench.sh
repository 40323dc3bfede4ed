#!/bin/sh
# The L4 path side by side: direct, ambit-l4, haproxy-mtls, nginx-stream-mtls, stunnel-mtls
# under wrk -c16, wrk -c1 and one iperf3 stream. Run as root from anywhere, after the build
# (mvn -o -q package -DskipTests from the repository root); options: --help.
# Prints the table and writes perf/results/latest.json (+ latest-details.json).
set -eu
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f perf/target/perf-0.1.0-SNAPSHOT.jar ] || [ ! -d perf/target/lib ]; then
  echo "perf/target/perf-0.1.0-SNAPSHOT.jar or perf/target/lib missing: build first with" >&2
  echo "  mvn -o -q package -DskipTests   (from $(pwd))" >&2
  exit 1
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp 'perf/target/perf-0.1.0-SNAPSHOT.jar:perf/target/lib/*' dev.ambit.perf.l4.L4Bench "$@"
