# zonetp: top-level driver. `make demo` runs the main job end to end;
# `make check` runs every test and ends with "N passed, N failed".

.PHONY: all build check demo userspace bench bench-module clean golden docs install

all: build

userspace:
	cd userspace && cargo build --release

build: userspace

# Man pages and shell completions, generated from the command's own clap
# definitions (`zonetp generate-docs`, a hidden verb) into build/docs.
# ZONETP_BIN names another zonetp binary to install (no cargo build then).
ZONETP_BIN ?= userspace/target/release/zonetp
ifeq ($(ZONETP_BIN),userspace/target/release/zonetp)
DOCS_DEPS := userspace
endif
docs: $(DOCS_DEPS)
	rm -rf build/docs
	$(ZONETP_BIN) generate-docs build/docs

# Installs the command, its man pages and its bash, zsh and fish
# completions under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
install: docs
	install -D -m 755 $(ZONETP_BIN) $(DESTDIR)$(PREFIX)/bin/zonetp
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 build/docs/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -D -m 644 build/docs/completions/zonetp.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/zonetp
	install -D -m 644 build/docs/completions/_zonetp $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_zonetp
	install -D -m 644 build/docs/completions/zonetp.fish \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/zonetp.fish

# Installs what is missing (idempotent), then runs every test stage.
check:
	scripts/check

# The main job end to end, narrated (see scripts/demo).
demo:
	scripts/demo

include mk/kernel.mk

# Benchmarks, side by side in one run, reported as ratios (needs root):
# pushing policies (userspace), then name look-ups, upstream cttimeout vs
# zonetp.ko (in a VM on the "perf" kernel: no KASAN or lockdep, so the
# timings are the providers' and not the checkers').  The perf module is
# built from a copy of the sources in build/perf-module, so the repo's
# zonetp.ko (for the debug kernel of make check) is never overwritten.
ZONETP_PERF_MOD := $(CURDIR)/build/perf-module
ZONETP_PERF_TREE = $(shell scripts/build-kernel --flavour perf --print-dir)

bench-module:
	scripts/build-kernel --flavour perf
	rm -rf $(ZONETP_PERF_MOD) && mkdir -p $(ZONETP_PERF_MOD)
	cp -r Kbuild rust-module compat $(ZONETP_PERF_MOD)/
	scripts/kmake -C $(ZONETP_PERF_TREE) M=$(ZONETP_PERF_MOD) -j$$(nproc) modules

bench: bench-module
	cd userspace && cargo bench -p zonetp --bench sync
	tests/vm/run-vm $(ZONETP_PERF_TREE) tests/vm/bench-provider.sh $(ZONETP_PERF_MOD)/zonetp.ko

# Regenerates the libnetfilter_cttimeout reference bytes.
golden:
	mkdir -p build
	gcc -Wall -O1 -o build/gen-cttimeout-golden tests/golden/gen-cttimeout-golden.c \
	    $$(pkg-config --cflags --libs libnetfilter_cttimeout libmnl)
	build/gen-cttimeout-golden > tests/golden/cttimeout.golden

clean:
	cd userspace && cargo clean
	rm -rf build
