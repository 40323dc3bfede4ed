#!/usr/bin/env bash
# Builds Ambit's OCI images without a container engine (make images).
#
#   images/build.sh [--out DIR] [--tag TAG] [--push REGISTRY [--insecure]]
#
# Stages, under images/target/stage:
#   jre/     one jlinked JDK 25 (/opt/java) with the modules jdeps finds in the components
#   glibc/   the loader, libc and its companions from Debian's libc6 .deb, /etc/passwd, /tmp
#   libbpf/  Debian's libbpf1, libelf1 and zlib1g (the node agent's eBPF bindings load them)
# then ImageBuild (jib-core, from scratch) writes DIR/<component>.tar (OCI image layout in a
# tar, for `podman load` / `docker load` / `skopeo copy oci-archive:`), or with --push sends
# the images to REGISTRY/<component>:TAG with the credentials of ~/.docker/config.json.
# The jars must be built first (make images does: mvn package -DskipTests).
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
out="$repo/images/target/archives"
tag="$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' "$repo/pom.xml" | head -1)"
push=""
insecure=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --push) push="$2"; shift 2 ;;
    --insecure) insecure=true; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "images/build.sh: unknown option $1 (expected --out DIR, --tag TAG, --push REGISTRY, --insecure)" >&2; exit 2 ;;
  esac
done

java_home="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
for tool in java jlink jdeps; do
  [[ -x "$java_home/bin/$tool" ]] || { echo "images/build.sh: $java_home/bin/$tool missing: set JAVA_HOME to a JDK 25" >&2; exit 1; }
done
arch="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
components=(istiod-lite node-agent waypoint-proxy ambitctl)
for c in "${components[@]}" images; do
  [[ -f "$repo/$c/target/$c.jar" ]] || { echo "images/build.sh: $repo/$c/target/$c.jar is not built: mvn -B -q package -DskipTests" >&2; exit 1; }
done

stage="$repo/images/target/stage"
rm -rf "$stage/jre" "$stage/glibc" "$stage/libbpf" "$stage/debian"
mkdir -p "$stage/debs" "$stage/debian"

# --- the runtime: one jlink for all components (the union differs by java.net.http only),
# so the largest layer is shared by every image on a node.
modules=""
for c in "${components[@]}"; do
  m="$("$java_home/bin/jdeps" -q --ignore-missing-deps --multi-release 25 --print-module-deps \
        --class-path "$repo/$c/target/lib/*" "$repo/$c/target/$c.jar" | tail -1)"
  echo "jdeps $c: $m"
  modules="$modules,$m"
done
# jdk.crypto.cryptoki etc. are not needed: TLS uses java.base's providers or BoringSSL.
modules="$(tr ',' '\n' <<<"${modules#,}" | sort -u | paste -sd, -)"
echo "jlink: $modules"
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --compress zip-6 --output "$stage/jre/opt/java"

# --- Debian packages, downloaded as .debs and unpacked (never installed): the exact
# versions this machine's apt sources give, with their copyright files.
debs=(libc6 zlib1g libelf1 libbpf1)
(cd "$stage/debs" && for p in "${debs[@]}"; do
   ls "${p}"_*_"$arch".deb >/dev/null 2>&1 || apt-get download -q -o APT::Sandbox::User=root "$p:$arch" >/dev/null \
     || { echo "images/build.sh: apt-get download $p failed (apt-get update first?)" >&2; exit 1; }
 done)
for p in "${debs[@]}"; do
  deb="$(ls "$stage/debs/${p}"_*_"$arch".deb | sort | tail -1)"
  dpkg-deb -x "$deb" "$stage/debian/$p"
  echo "debian: $(basename "$deb")"
done

# take DEST PKG FILE...: copies the named files (links resolved) out of an unpacked package.
take() {
  local dest="$1" pkg="$2"; shift 2
  for f in "$@"; do
    local src="$stage/debian/$pkg/$f"
    [[ -e "$src" ]] || { echo "images/build.sh: $f not in $pkg" >&2; exit 1; }
    mkdir -p "$(dirname "$dest/$f")"
    cp -L "$src" "$dest/$f"
  done
  mkdir -p "$dest/usr/share/doc/$pkg"
  cp -L "$stage/debian/$pkg/usr/share/doc/$pkg/copyright" "$dest/usr/share/doc/$pkg/copyright"
}

lib="lib/$multiarch"
glibc="$stage/glibc"
# What the JDK (libjvm, libjava, libnet, libnio) and Netty's native transports link:
# ldd shows libc, libm, libdl, libpthread, librt; nothing else.
take "$glibc" libc6 "$lib/ld-linux-x86-64.so.2" "$lib/libc.so.6" "$lib/libm.so.6" "$lib/libdl.so.2" \
  "$lib/libpthread.so.0" "$lib/librt.so.1" "$lib/libnss_files.so.2" "$lib/libresolv.so.2" "$lib/libnss_dns.so.2"
# The ELF interpreter path every binary names.
mkdir -p "$glibc/lib64"
cp -L "$stage/debian/libc6/$lib/ld-linux-x86-64.so.2" "$glibc/lib64/ld-linux-x86-64.so.2"
mkdir -p "$glibc/etc" "$glibc/tmp"
cat >"$glibc/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
ambit:x:1337:1337:ambit:/nonexistent:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$glibc/etc/group" <<'EOF'
root:x:0:
ambit:x:1337:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$glibc/etc/nsswitch.conf"

libbpf="$stage/libbpf"
take "$libbpf" libbpf1 "usr/lib/$multiarch/libbpf.so.1"
take "$libbpf" libelf1 "usr/lib/$multiarch/libelf.so.1"
take "$libbpf" zlib1g "$lib/libz.so.1"

args=(--repo "$repo" --stage "$stage" --tag "$tag" --revision "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)")
if [[ -n "$push" ]]; then
  args+=(--push "$push" --insecure "$insecure")
else
  args+=(--out "$out")
fi
"$java_home/bin/java" --sun-misc-unsafe-memory-access=allow -jar "$repo/images/target/images.jar" "${args[@]}"
if [[ -z "$push" ]]; then
  ls -l "$out"/*.tar
fi
