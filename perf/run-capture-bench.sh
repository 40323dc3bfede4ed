#!/bin/sh
# Connect rate and latency: no capture vs eBPF capture vs iptables REDIRECT, side by side.
# Run as root from anywhere, after the build (from the repo root: mvn -o -q package -DskipTests).
# Prints the table and writes perf/results/capture-latest.json; exits non-zero if the bench fails.
set -eu
cd "$(dirname "$0")/.."
# make bench exports the JDK 25 it selected; standalone, fall back to the usual one.
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f perf/target/perf-0.1.0-SNAPSHOT.jar ] || [ ! -d perf/target/lib ]; then
  echo "perf/target/perf-0.1.0-SNAPSHOT.jar or perf/target/lib missing: build first with" >&2
  echo "  mvn -o -q package -DskipTests   (from $(pwd))" >&2
  exit 1
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp 'perf/target/perf-0.1.0-SNAPSHOT.jar:perf/target/lib/*' dev.ambit.perf.CaptureBench "$@"
