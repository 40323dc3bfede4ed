#!/bin/sh
# The node agent's RSS against the number of pods it has enrolled (issue 18): prints each
# step's median RSS and the least-squares MiB per 1,000 pods. Run as root from anywhere, after
# the build (mvn -o -q package -DskipTests from the repository root); options: --steps, --agent-jvm.
. "$(dirname "$0")/lib.sh"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "$PERF_CP" dev.ambit.perf.l4.PodDensity "$@"
