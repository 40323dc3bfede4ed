#!/bin/sh
# The L4 path side by side: direct, ambit-l4, haproxy-mtls, nginx-stream-mtls, stunnel-mtls
# under wrk -c16, wrk -c1 and one iperf3 stream. Run as root from anywhere, after the build
# (mvn -o -q package -DskipTests from the repository root); options: --help.
# Prints the table and writes perf/results/latest.json (+ latest-details.json).
. "$(dirname "$0")/lib.sh"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "$PERF_CP" dev.ambit.perf.l4.L4Bench "$@"
