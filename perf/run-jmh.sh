#!/bin/sh
# JMH micro-benchmarks of the agent's data path (dev.ambit.perf.jmh): relay throughput,
# TLS handshakes/s, the authorization decision, state lookups, and bytes allocated per
# connection (-prof gc). Short iterations by default (about 3 minutes on 2 cores); any
# argument is passed to JMH instead (e.g. perf/run-jmh.sh -f 3 -wi 5 -i 10 RelayBench).
# Writes perf/results/jmh-latest.json. Run after the build (mvn -o -q package -DskipTests).
. "$(dirname "$0")/lib.sh"
mkdir -p perf/results
if [ $# -eq 0 ]; then
  set -- -f 1 -wi 3 -w 2s -i 3 -r 2s -prof gc
fi
# Forked benchmark JVMs get the agent's production setting: Netty's leak detection off.
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "$PERF_CP" org.openjdk.jmh.Main \
  -jvmArgsAppend "--enable-native-access=ALL-UNNAMED -Dio.netty.leakDetection.level=disabled -Xmx256m" \
  -rf json -rff perf/results/jmh-latest.json "$@"
