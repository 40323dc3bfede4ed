#!/usr/bin/env bash
# `make demo`: a real mesh on this machine, in network namespaces, showing what the mesh
# does for a frontend calling a backend. Exits non-zero if any step does not behave.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctl="$repo/bin/ambitctl"
failed=0

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
ok() { printf '  \033[32m✔\033[0m %s\n' "$*"; }
bad() { printf '  \033[31m✘ %s\033[0m\n' "$*"; failed=1; }
say() { printf '    %s\n' "$*"; }

teardown() {
  bold "Tearing down"
  if "$ctl" local down >/dev/null 2>&1; then ok "local down: namespaces, processes, cgroups and BPF pins removed"; else bad "local down failed"; fi
  if [ "$failed" = 0 ]; then bold "Demo passed."; else bold "Demo FAILED (see above)."; fi
  exit "$failed"
}

# The last access-log line of NODE's agent matching all the given strings.
access_line() {
  local node=$1; shift
  local lines; lines=$("$ctl" local logs "$node" --tail 400 2>/dev/null | grep '^{"start"')
  for s in "$@"; do lines=$(printf '%s\n' "$lines" | grep -F -- "$s"); done
  printf '%s\n' "$lines" | tail -1
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
node_of() { "$ctl" local get pods -n "$1" -o wide | awk -v p="$2" 'index($1, p) == 1 { print $7; exit }'; }

"$ctl" local down >/dev/null 2>&1 # what an interrupted earlier run left
trap teardown EXIT

bold "1. A two-node mesh on this machine"
say "Network namespaces only: istiod-lite, two nodes each running a node agent (eBPF capture, HBONE)."
"$ctl" local up --nodes 2 | sed 's/^/    /' || { bad "local up failed"; exit 1; }

bold "2. The sample: samples/demo/demo.yaml"
say "namespace shop (istio.io/dataplane-mode=ambient): frontend, backend (2 replicas), intruder"
say "namespace legacy (not in the mesh): legacy-client"
say "AuthorizationPolicy: only spiffe://cluster.local/ns/shop/sa/frontend may call backend; PeerAuthentication STRICT"
"$ctl" local apply -f "$here/demo.yaml" | sed 's/^/    /'
for _ in $(seq 60); do
  running=$("$ctl" local get pods -A 2>/dev/null | awk 'NR > 1 && $4 == "Running"' | wc -l)
  [ "$running" -ge 5 ] && break
  sleep 1
done
"$ctl" local get pods -A -o wide | cut -c1-90 | sed 's/^/    /'
[ "$running" -ge 5 ] || { bad "pods did not all start"; exit 1; }

bold "3. frontend → backend across nodes: allowed, mutual TLS with SPIFFE identities"
fe_node=$(node_of shop frontend)
answer=""
for _ in $(seq 30); do
  answer=$("$ctl" local exec -n shop deploy/frontend -- curl -s -m 3 http://backend:8080/ 2>/dev/null)
  be_pod=${answer#hello from }
  if [ -n "$answer" ] && [ "$(node_of shop "$be_pod")" != "$fe_node" ]; then break; fi
  sleep 0.5
done
be_node=$(node_of shop "${be_pod:-none}")
if [ -n "$answer" ] && [ "$be_node" != "$fe_node" ]; then
  ok "curl http://backend:8080/ from frontend ($fe_node) answered: \"$answer\" ($be_node)"
  line=$(access_line "$be_node" '"reporter":"destination"' '"src.workload":"frontend"' '"denied":null')
  say "the backend's agent ($be_node) saw: $(printf %s "$line" | field src.identity) → $(printf %s "$line" | field dst.identity), $(printf %s "$line" | field security)"
  [ "$(printf %s "$line" | field security)" = mutual_tls ] || bad "the backend's agent did not log a mutual TLS connection from frontend"
else
  bad "frontend could not reach a backend on the other node (last answer: '$answer')"
fi

# A call from NS/POD to URL that the mesh must refuse; shows the reason the backend's
# agent logged in the access-log line matching MATCH (what describes it: WHO).
expect_refused() {
  local ns=$1 pod=$2 url=$3 match=$4 who=$5 out line="" l reason
  if out=$("$ctl" local exec -n "$ns" "$pod" -- curl -sS -m 3 "$url" 2>&1) && [ "${out#hello}" != "$out" ]; then
    bad "$pod got an answer: $out"
    return
  fi
  ok "curl from $pod failed: $(printf %s "$out" | tail -1)"
  for n in node1 node2; do l=$(access_line "$n" '"reporter":"destination"' "$match"); [ -n "$l" ] && line=$l; done
  reason=$(printf %s "$line" | field denied)
  say "the backend's agent logged: $(printf %s "$line" | field "$who") denied: $reason"
  [ -n "$reason" ] || bad "no refusal of $pod in the backend's access log"
}

bold "4. intruder (another service account in the mesh) → backend: denied by the AuthorizationPolicy"
expect_refused shop intruder http://backend:8080/ '"src.workload":"intruder"' src.identity

bold "5. legacy-client (outside the mesh) → backend in plaintext: refused (STRICT)"
expect_refused legacy legacy-client http://backend.shop:8080/ '"security":"none"' src.addr

bold "6. What the agents report on :15020/metrics (Istio's names and labels)"
seen_frontend=0
for n in node1 node2; do
  metrics=$("$ctl" local exec --node "$n" -- curl -s http://127.0.0.1:15020/metrics)
  printf '%s\n' "$metrics" | grep '^istio_tcp_connections_opened_total{reporter="destination"' | while read -r l; do
    printf '    %s  %-42s → %-12s %-10s %s\n' "$n" "$(printf %s "$l" | sed -n 's/.*source_principal="\([^"]*\)".*/\1/p')" \
      "$(printf %s "$l" | sed -n 's/.*destination_workload="\([^"]*\)".*/\1/p')" \
      "$(printf %s "$l" | sed -n 's/.*connection_security_policy="\([^"]*\)".*/\1/p')" "${l##* }"
  done
  printf '%s\n' "$metrics" | grep '^istio_tcp_connections_opened_total{reporter="destination"' | grep -q 'source_principal="spiffe://cluster.local/ns/shop/sa/frontend"' && seen_frontend=1
done
say "(columns: node, source principal, destination workload, connection_security_policy, connections opened)"
[ "$seen_frontend" = 1 ] && ok "frontend's mTLS connections are counted with its principal" || bad "no istio_tcp_connections_opened_total for frontend"
