#!/usr/bin/env bash
# The images, tested for real (make images-test): podman loads each archive images/build.sh
# wrote and runs it:
#   istiod-lite  folder mode on an empty config folder, host network on loopback: GET /ready = 200
#   node-agent   --version; --check-kernel in a non-privileged container with only the
#                capabilities and mounts the DaemonSet gives it (BPF, PERFMON, NET_ADMIN,
#                SYS_ADMIN; bpffs, the cgroup v2 root read-only, read-only root file system);
#                --prepare-node privileged, mounting a bpffs on an empty folder
#   waypoint     --version, runs as 1337
#   ambitctl     --help
# and prints each image's size and number of layers. Needs root and podman (make images-test
# installs it with runc: crun refuses hybrid cgroup hierarchies).
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
archives="${1:-$repo/images/target/archives}"
tag="$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' "$repo/pom.xml" | head -1)"
cgroup_root="${AMBIT_CGROUP_ROOT:-$(findmnt -n -t cgroup2 -o TARGET | head -1)}"
[[ -n "$cgroup_root" ]] || { echo "images/test.sh: no cgroup v2 mount on this machine" >&2; exit 1; }

# runc: works with hybrid and unified hierarchies. The rlimits are pinned below what the
# caller has: podman's defaults (1M files) need CAP_SYS_RESOURCE, which a sandbox may lack.
nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
[[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
[[ "$nproc" == unlimited || "$nproc" -gt 8192 ]] && nproc=8192
run=(podman --runtime runc run --rm --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
name="ambit-images-test-$$"
config="$(mktemp -d)"
chmod 755 "$config" # istiod-lite runs as 1337 and must read the folder it is given
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$config"
}
trap cleanup EXIT

passed=0; failed=0
check() { # check WHAT COMMAND...: runs it, counts the outcome
  local what="$1"; shift
  if "$@"; then echo "PASS $what"; passed=$((passed + 1)); else echo "FAIL $what"; failed=$((failed + 1)); fi
}

for c in istiod-lite node-agent waypoint ambitctl; do
  podman load -q -i "$archives/$c.tar" >/dev/null
done

# istiod-lite: ports away from Istio's so a mesh on this machine does not collide.
podman --runtime runc run -d --name "$name" --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" \
  --network host --read-only --tmpfs /tmp -v "$config:/config:ro" "localhost/ambit/istiod-lite:$tag" \
  --config-dir /config --ca-dir /tmp/ca --listen-address 127.0.0.1 \
  --xds-port 25010 --secure-port 25012 --monitoring-port 25014 >/dev/null
istiod_ready() {
  for _ in $(seq 1 60); do
    [[ "$(curl -s -m 2 http://127.0.0.1:25014/ready || true)" == ready ]] && return 0
    sleep 1
  done
  podman logs "$name" >&2
  return 1
}
check "istiod-lite answers /ready on its monitoring port" istiod_ready
check "istiod-lite runs as 1337" test "$(podman inspect "$name" --format '{{.Config.User}}')" = "1337:1337"
podman rm -f "$name" >/dev/null

agent_version() { "${run[@]}" "localhost/ambit/node-agent:$tag" --version | tee /dev/stderr | grep -qx "node-agent $tag"; }
check "node-agent --version" agent_version
agent_kernel() {
  "${run[@]}" --read-only --cap-drop all --cap-add BPF,PERFMON,NET_ADMIN,SYS_ADMIN \
    -v /sys/fs/bpf:/sys/fs/bpf -v "$cgroup_root:/host/cgroup:ro" "localhost/ambit/node-agent:$tag" \
    --check-kernel --cgroup-root /host/cgroup | tee /dev/stderr | grep -q '^kernel: ready'
}
check "node-agent --check-kernel with the DaemonSet's capabilities" agent_kernel
agent_kernel_refuses() {
  # No bpffs mounted: the check must say so, not pass.
  ! "${run[@]}" --read-only "localhost/ambit/node-agent:$tag" --check-kernel >/dev/null 2>&1
}
check "node-agent --check-kernel fails without bpffs" agent_kernel_refuses
agent_prepare() {
  # The init container's job: an empty folder gets a bpffs (inside the container only here:
  # the bind is private), then the check passes.
  local pins; pins="$(mktemp -d)"
  "${run[@]}" --privileged --read-only -v "$pins:/host/bpf" -v "$cgroup_root:/host/cgroup:ro" \
    "localhost/ambit/node-agent:$tag" --prepare-node --bpffs-root /host/bpf/ambit --cgroup-root /host/cgroup \
    | tee /dev/stderr | grep '^mounted bpffs at /host/bpf' >/dev/null && local ok=0 || local ok=1
  rmdir "$pins" 2>/dev/null || true
  return "$ok"
}
check "node-agent --prepare-node mounts bpffs (privileged init container)" agent_prepare
waypoint_version() { "${run[@]}" "localhost/ambit/waypoint:$tag" --version | tee /dev/stderr | grep -qx "waypoint-proxy $tag"; }
check "waypoint --version" waypoint_version
check "waypoint runs as 1337" test "$(podman image inspect "localhost/ambit/waypoint:$tag" --format '{{.Config.User}}')" = "1337:1337"
ambitctl_help() { "${run[@]}" "localhost/ambit/ambitctl:$tag" --help | grep -q 'Usage: ambitctl'; }
check "ambitctl --help" ambitctl_help
no_shell() { ! "${run[@]}" --entrypoint /bin/sh "localhost/ambit/istiod-lite:$tag" -c true >/dev/null 2>&1; }
check "no shell in the images" no_shell

echo
printf '%-14s %10s %12s %7s\n' image "size MiB" "archive MiB" layers
for c in istiod-lite node-agent waypoint ambitctl; do
  size="$(podman image inspect "localhost/ambit/$c:$tag" --format '{{.Size}}')"
  layers="$(podman image inspect "localhost/ambit/$c:$tag" --format '{{len .RootFS.Layers}}')"
  archive="$(stat -c %s "$archives/$c.tar")"
  printf '%-14s %10.1f %12.1f %7s\n' "$c" "$(bc -l <<<"$size/1048576")" "$(bc -l <<<"$archive/1048576")" "$layers"
done
echo
echo "$passed passed, $failed failed"
[[ "$failed" == 0 ]]
