# zonetp: top-level driver. `make demo` runs the main job end to end;
# `make check` runs every test and ends with "N passed, N failed".

.PHONY: all build check demo userspace bench clean golden

all: build

userspace:
	cd userspace && cargo build --release

build: userspace

# Installs what is missing (idempotent), then runs every test stage.
check:
	scripts/check

# The main job end to end, narrated (see scripts/demo).
demo:
	scripts/demo

include mk/kernel.mk

# A distribution's stock Rust-enabled kernel (Debian sid), no custom kernel:
# zonetp.ko for the running kernel or KREL=<release> (run on sid itself; see
# README, "Install on Debian sid"), the DKMS install, and the distro test
# stage (sid chroot + VM, from any host).
.PHONY: distro-module dkms-install distro-test
distro-module:
	scripts/distro-module $(if $(KREL),--krel $(KREL))

dkms-install:
	scripts/dkms-install $(if $(KREL),--kernel $(KREL))

distro-test:
	tests/distro/run-distro

# Benchmarks (issue 10), upstream cttimeout vs zonetp.ko and zonetp vs
# ovs-vswitchd, all in one VM on the perf test kernel (built and cached on
# first use; zonetp.ko for it goes to build/bench/), ending with the table
# of ratios; plot and table in build/bench/ (needs root).
bench: userspace
	tests/vm/bench-run.sh

# Regenerates the libnetfilter_cttimeout reference bytes.
golden:
	mkdir -p build
	gcc -Wall -O1 -o build/gen-cttimeout-golden tests/golden/gen-cttimeout-golden.c \
	    $$(pkg-config --cflags --libs libnetfilter_cttimeout libmnl)
	build/gen-cttimeout-golden > tests/golden/cttimeout.golden

clean:
	cd userspace && cargo clean
	rm -rf build
