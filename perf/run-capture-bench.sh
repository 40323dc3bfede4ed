#!/bin/sh
# Connect rate and latency: no capture vs eBPF capture vs iptables REDIRECT, side by side.
# Run as root from anywhere, after the build (from the repo root: mvn -o -q package -DskipTests).
# Prints the table and writes perf/results/capture-latest.json; exits non-zero if the bench fails.
. "$(dirname "$0")/lib.sh"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "$PERF_CP" dev.ambit.perf.CaptureBench "$@"
