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

# Benchmarks, side by side in one run, reported as ratios (needs root):
# pushing policies (userspace), then name look-ups, upstream cttimeout vs
# zonetp.ko (in a VM on the test kernel).
bench: module
	cd userspace && cargo bench -p zonetp --bench sync
	tests/vm/run-vm "$$(scripts/build-kernel --print-dir)" tests/vm/bench-provider.sh $(CURDIR)/zonetp.ko

# Regenerates the libnetfilter_cttimeout reference bytes.
golden:
	mkdir -p build
	gcc -Wall -O1 -o build/gen-cttimeout-golden tests/golden/gen-cttimeout-golden.c \
	    $$(pkg-config --cflags --libs libnetfilter_cttimeout libmnl)
	build/gen-cttimeout-golden > tests/golden/cttimeout.golden

clean:
	cd userspace && cargo clean
	rm -rf build
