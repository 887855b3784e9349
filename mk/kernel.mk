# mk/kernel.mk: kernel-side targets of zonetp, included by the top Makefile
# (`include mk/kernel.mk`).  Paths derive from this file's location, so it
# works from any clone; the kernel tree lives in $(ZONETP_CACHE) (default
# ~/.cache/zonetp), outside the repo.
#
#   make deps       install toolchain, kernel source, qemu, virtme-ng (idempotent)
#   make kernel     build (or reuse) the cached Rust-enabled 6.12 test kernel
#   make module     build zonetp.ko against it
#   make vm-test    module-load + stock-kernel VM tests; PASS/FAIL per test
#   make vm-test-selfcheck   prove vm-test catches a failing init, a leak, a use after free
#   make vm-shell   interactive shell in the test kernel (repo visible, zonetp.ko built)
#   make fuzz       differential fuzzing, upstream cttimeout vs zonetp.ko
#                   (SEED=n to replay a run, COUNT=n messages, default 1000000)
#   make stress     the concurrency stress for DURATION=s (default 600)
#   make module-clean        remove the module build outputs
#   make kernel-dir print the cached kernel tree path

ZONETP_KROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
ZONETP_KSCRIPTS := $(ZONETP_KROOT)/scripts
# Kernel tree path (computed from the inputs' hash; nothing is built here).
ZONETP_KTREE = $(shell $(ZONETP_KSCRIPTS)/build-kernel --print-dir)
ZONETP_MODULE_JOBS ?= $(shell nproc)

.PHONY: deps kernel kernel-dir module module-clean vm-test vm-test-selfcheck vm-shell fuzz stress

deps:
	$(ZONETP_KSCRIPTS)/install-deps

kernel:
	$(ZONETP_KSCRIPTS)/build-kernel

kernel-dir:
	@$(ZONETP_KSCRIPTS)/build-kernel --print-dir

module: kernel
	$(ZONETP_KSCRIPTS)/kmake M=$(ZONETP_KROOT) -j$(ZONETP_MODULE_JOBS) modules
	@echo "built $(ZONETP_KROOT)/zonetp.ko"

# Only the module's own outputs (`make M=... clean` would sweep the whole repo).
module-clean:
	cd $(ZONETP_KROOT) && rm -f zonetp.ko zonetp.o zonetp.mod zonetp.mod.c \
		zonetp.mod.o Module.symvers modules.order .zonetp.* .Module.symvers.cmd \
		.module-common.o ..module-common.o.cmd \
		.modules.order.cmd rust-module/*.o rust-module/.*.cmd rust-module/*.d \
		rust-module/.zonetp_bindings_generated.rs compat/*.o compat/.*.cmd

vm-test: module
	$(ZONETP_KROOT)/tests/vm/run-tests

vm-test-selfcheck: kernel
	$(ZONETP_KROOT)/tests/vm/run-tests --selfcheck

vm-shell: module
	$(ZONETP_KROOT)/tests/vm/run-vm --shell $(ZONETP_KTREE)

fuzz: module
	ZONETP_FUZZ_SEED=$(SEED) ZONETP_FUZZ_COUNT=$(or $(COUNT),1000000) \
		$(ZONETP_KROOT)/tests/vm/run-tests fuzz

stress: module
	cd $(ZONETP_KROOT)/userspace && cargo build --release --quiet
	ZONETP_STRESS_DURATION=$(or $(DURATION),600) $(ZONETP_KROOT)/tests/vm/run-tests stress
