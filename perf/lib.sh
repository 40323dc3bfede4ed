# Sourced by perf/run-*.sh: the repository root as working folder, JDK 25, and the built
# perf jar with its dependencies (PERF_CP), or a message saying how to build them.
set -eu
cd "$(dirname "$0")/.."
# make bench exports the JDK 25 it selected; standalone, fall back to the usual one.
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f perf/target/perf-0.1.0-SNAPSHOT.jar ] || [ ! -d perf/target/lib ]; then
  echo "perf/target/perf-0.1.0-SNAPSHOT.jar or perf/target/lib missing: build first with" >&2
  echo "  mvn -o -q package -DskipTests   (from $(pwd))" >&2
  exit 1
fi
PERF_CP='perf/target/perf-0.1.0-SNAPSHOT.jar:perf/target/lib/*'
