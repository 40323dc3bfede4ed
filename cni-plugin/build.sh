#!/usr/bin/env bash
# Compiles the CNI plugin (src/main/c/ambit-cni.c) into OUTPUT_DIR/ambit-cni.
#   cni-plugin/build.sh OUTPUT_DIR
# Statically linked when the C library's static archive is there (libc6-dev ships libc.a), so
# the binary runs on any node whatever its libc; else dynamically against libc only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTPUT_DIR}
cc=${CC:-gcc}
command -v "$cc" >/dev/null || { echo "cni-plugin/build.sh: $cc not found: run 'make deps' (installs gcc)" >&2; exit 1; }
mkdir -p "$out"
src="$here/src/main/c/ambit-cni.c"
flags=(-std=gnu11 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong)
if [ ! -x "$out/ambit-cni" ] || [ "$src" -nt "$out/ambit-cni" ] || [ "$0" -nt "$out/ambit-cni" ]; then
  if ! "$cc" "${flags[@]}" -static -s -o "$out/ambit-cni.tmp" "$src" 2>/dev/null; then
    echo "cni-plugin/build.sh: no static libc here; linking dynamically against libc" >&2
    "$cc" "${flags[@]}" -s -o "$out/ambit-cni.tmp" "$src"
  fi
  mv "$out/ambit-cni.tmp" "$out/ambit-cni"
fi
