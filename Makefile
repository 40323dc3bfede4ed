# Ambit: `make test` and `make demo` are the two commands a newcomer needs. Each
# installs what a fresh Debian 12 machine lacks (packages, bpffs mount) first.

SHELL := /bin/bash
.DEFAULT_GOAL := build

# The build needs JDK 25 (FFM); the machine's default java may be older.
JDK25 := $(firstword $(wildcard /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64 \
           /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/java-25-openjdk-arm64))
export JAVA_HOME := $(or $(AMBIT_JAVA_HOME),$(JDK25),$(JAVA_HOME))
export PATH := $(JAVA_HOME)/bin:$(PATH)
# Maven's own Guava warns about sun.misc.Unsafe on JDK 25; it is not ours to fix.
export MAVEN_OPTS ?= --sun-misc-unsafe-memory-access=allow
MVN := mvn -B -ntp

# Debian packages: BPF toolchain, gcc for the CNI plugin, namespaces and the clients the root tests use;
# prometheus (its promtool too) for ambitctl local's Prometheus addon, PrometheusAddonTest and the dashboards' check;
# chromium for MeshViewTest (headless, driven by playwright-core from npm; the mesh view's build runs npm too).
DEBS := clang llvm gcc libc6-dev libbpf-dev bpftool iproute2 socat util-linux perl nodejs curl wget openssl prometheus chromium
# perf/: iptables for the capture bench; the peers, the backend and the load for the L4 and L7 bench (h2load: nghttp2-client).
BENCH_DEBS := iptables haproxy nginx-light libnginx-mod-stream stunnel4 wrk iperf3 nghttp2-client
# Extra options of the L4 bench, e.g. make bench BENCH_ARGS=--pin (perf/run-l4-bench.sh --help).
BENCH_ARGS ?=
JMH_ARGS ?=
# images/: podman runs the built images in images-test (runc: crun refuses hybrid cgroup trees).
IMAGE_DEBS := podman runc bc
# Extra options of images/build.sh, e.g. make images IMAGES_ARGS="--push registry.example.com/ambit --tag 0.1.0".
IMAGES_ARGS ?=

.PHONY: fuzz images images-test images-deps build test demo bench bench-l4 bench-jmh bench-capture bench-density bench-build bench-xds bpf bindings deps bench-deps bpffs jdk clean help

help:
	@echo "make test    build and run every test (root: eBPF, namespaces)"
	@echo "make demo    a two-node mesh on this machine: frontend → backend, a denial, STRICT, metrics"
	@echo "make build   compile and package without tests"
	@echo "make bench   L4, L7 and ingress paths side by side (direct, ambit-l4, ambit-waypoint, ambit-ingress, haproxy, nginx, stunnel), then JMH"
	@echo "make bench-l4 / bench-jmh  one half of it (BENCH_ARGS=--pin ..., JMH_ARGS=...)"
	@echo "make bench-capture  capture benchmark: eBPF vs iptables REDIRECT vs none"
	@echo "make bench-density  the node agent's RSS per 1,000 enrolled pods"
	@echo "make bench-xds  istiod-lite at scale: simulated node agents against delta xDS"
	@echo "make images  OCI archives of istiod-lite, node-agent, waypoint, ambitctl in images/target/archives (IMAGES_ARGS=--push REGISTRY)"
	@echo "make images-test  build the images, then podman load and run each (root)"
	@echo "make fuzz    coverage-guided fuzzing (Jazzer) of the waypoint: HTTP/1.1 parsing, route matching, xDS validation, 2 min each"
	@echo "make bpf     compile the eBPF programs only"
	@echo "make bindings  regenerate the FFM bindings from native-bindings/gen/*.decl"

build: deps
	$(MVN) -q install -DskipTests

test: deps
	$(MVN) install

demo: deps build
	@if [ "$$(id -u)" != 0 ]; then echo "make demo needs root (network namespaces, eBPF): sudo make demo" >&2; exit 1; fi
	samples/demo/run.sh

# Coverage-guided fuzzing (Jazzer) of the waypoint, one target per JVM (Jazzer fuzzes one at a
# time), each bounded by its @FuzzTest maxDuration (libFuzzer's -max_total_time). `make test`
# replays the saved inputs only; a finding is written under waypoint-proxy/src/test/resources/
# (…/<Class>Inputs/<method>/crash-*) and so becomes a regression test; the generated corpus stays
# in waypoint-proxy/.cifuzz-corpus (not committed).
FUZZ_TARGETS ?= HttpFuzzTest\#http1RequestParsing HttpFuzzTest\#routeMatching ResourceValidatorFuzzTest\#xdsResources
fuzz: deps
	$(MVN) -q install -DskipTests -pl waypoint-proxy -am
	for t in $(FUZZ_TARGETS); do \
	  JAZZER_FUZZ=1 $(MVN) test -pl waypoint-proxy -Djazzer.hooks=true -Dtest="$$t" \
	    -Dsurefire.failIfNoSpecifiedTests=false || exit 1; \
	done

# The L4 comparison (perf/results/latest.json), then the JMH micro-benchmarks
# (perf/results/jmh-latest.json, short iterations: JMH_ARGS for more, see perf/run-jmh.sh).
bench: bench-l4 bench-jmh

bench-l4: deps bench-deps bench-build
	@if [ "$$(id -u)" != 0 ]; then echo "make bench needs root (network namespaces, eBPF): sudo make bench" >&2; exit 1; fi
	perf/run-l4-bench.sh $(BENCH_ARGS)

bench-jmh: deps bench-build
	perf/run-jmh.sh $(JMH_ARGS)

bench-capture: deps bench-deps bench-build
	perf/run-capture-bench.sh

# The node agent's RSS per 1,000 enrolled pods (issue 18): DENSITY_ARGS=--steps 0,100,200,400.
bench-density: deps bench-deps bench-build
	perf/run-density-bench.sh $(DENSITY_ARGS)

# package, not install: the benches run from the modules' target folders.
bench-build: deps
	$(MVN) -q package -DskipTests

# istiod-lite at scale: 100 simulated node agents, 10,000 pods, 1,000 services.
bench-xds: build
	perf/run-xds-bench.sh

# From scratch with jib-core: a jlinked JDK 25, Debian's glibc and libbpf, the jars (images/build.sh).
images: deps
	$(MVN) -q package -DskipTests
	images/build.sh $(IMAGES_ARGS)

images-test: images images-deps
	@if [ "$$(id -u)" != 0 ]; then echo "make images-test needs root (podman, bpffs)" >&2; exit 1; fi
	images/test.sh

images-deps:
	@missing=""; for p in $(IMAGE_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (sudo make ...)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

bpf: deps
	ebpf/build.sh ebpf/target/classes/dev/ambit/ebpf

# jextract's shape, generated from the .decl files against this machine's headers.
bindings: jdk
	for decl in native-bindings/gen/*.decl; do \
	  "$(JAVA_HOME)/bin/java" native-bindings/gen/Jextractish.java "$$decl" native-bindings/src/main/java || exit 1; \
	done

deps: jdk bpffs
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (sudo make ...)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

bench-deps:
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (sudo make ...)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

bpffs:
	@if ! mountpoint -q /sys/fs/bpf; then \
	  if [ "$$(id -u)" != 0 ]; then echo "bpffs is not mounted on /sys/fs/bpf and mounting needs root" >&2; exit 1; fi; \
	  mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf && echo "mounted bpffs on /sys/fs/bpf"; \
	fi

jdk:
	@if [ ! -x "$(JAVA_HOME)/bin/java" ] || ! "$(JAVA_HOME)/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; then \
	  echo "JDK 25 not found (looked in /usr/lib/jvm for temurin-25 / java-25-openjdk): install one or set AMBIT_JAVA_HOME" >&2; exit 1; \
	fi

clean:
	$(MVN) -q clean
