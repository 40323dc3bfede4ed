#!/bin/sh
# istiod-lite at scale: simulated node agents against delta xDS (issue 3's benchmark).
# Usage: perf/run-xds-bench.sh [clients pods services changes]   (default 100 10000 1000 50)
# Build first (make build). Prints figures; asserts nothing.
set -eu
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f perf/target/perf-0.1.0-SNAPSHOT.jar ] || [ ! -d perf/target/lib ]; then
  echo "perf/target/perf-0.1.0-SNAPSHOT.jar or perf/target/lib missing: run make build first" >&2
  exit 1
fi
exec "$JAVA_HOME/bin/java" -Xmx1g -cp 'perf/target/perf-0.1.0-SNAPSHOT.jar:perf/target/lib/*' \
  dev.ambit.perf.xds.XdsBench "$@"
