#!/usr/bin/env bash
# Compiles every hook in src/main/bpf/*.c to a CO-RE BPF object.
#   ebpf/build.sh OUTPUT_DIR
# Two loaders, two lists: objects.list is the capture (EbpfRedirector) and svclb.list
# the local-mode Service load balancer (ServiceBalancer), whose sources are svc_*.c.
# Neither loader loads, or digests into its version, the other's objects.
# vmlinux.h comes from the running kernel's BTF (or $AMBIT_VMLINUX_BTF), so the
# objects carry relocations that libbpf resolves against whichever kernel loads them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTPUT_DIR}
btf=${AMBIT_VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
clang=${CLANG:-clang}
gen="$here/target/bpf-include"

for tool in "$clang" bpftool; do
  command -v "$tool" >/dev/null || { echo "ebpf/build.sh: $tool not found: run 'make deps' (installs clang, llvm, libbpf-dev, bpftool)" >&2; exit 1; }
done
[ -r "$btf" ] || { echo "ebpf/build.sh: kernel BTF $btf not readable: the kernel needs CONFIG_DEBUG_INFO_BTF=y, or set AMBIT_VMLINUX_BTF" >&2; exit 1; }

mkdir -p "$gen" "$out"
if [ ! -s "$gen/vmlinux.h" ] || [ "$btf" -nt "$gen/vmlinux.h" ]; then
  bpftool btf dump file "$btf" format c > "$gen/vmlinux.h.tmp"
  mv "$gen/vmlinux.h.tmp" "$gen/vmlinux.h"
fi

arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
objects=()
svclb=()
for src in "$here"/src/main/bpf/*.c; do
  name=$(basename "$src" .c)
  "$clang" -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_"$arch" \
    -I"$gen" -I"$here/src/main/bpf/include" -c "$src" -o "$out/$name.bpf.o"
  case "$name" in
    svc_*) svclb+=("$name.bpf.o") ;;
    *) objects+=("$name.bpf.o") ;;
  esac
done
# Each loader reads its list to know which objects to load, in order.
printf '%s\n' "${objects[@]}" > "$out/objects.list"
printf '%s\n' "${svclb[@]}" > "$out/svclb.list"
echo "ebpf: built ${objects[*]} ${svclb[*]} into $out"
