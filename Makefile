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
