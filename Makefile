# zonetp: top-level driver. `make demo` runs the main job end to end;
# `make check` runs every test and ends with "N passed, N failed".

.PHONY: all build check demo userspace bench clean golden docs install

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

# A distribution's stock Rust-enabled kernel (Debian 13 with
# trixie-backports, Debian sid), no custom kernel: zonetp.ko for the running
# kernel or KREL=<release> (run on that system itself; see docs/install.md),
# the DKMS install from this checkout, and the two distribution test stages
# (trixie: the Debian packages in a chroot and VMs; sid: build and load;
# from any host).
.PHONY: distro-module dkms-install distro-test
distro-module:
	scripts/distro-module $(if $(KREL),--krel $(KREL))

dkms-install:
	scripts/dkms-install $(if $(KREL),--kernel $(KREL))

distro-test:
	scripts/check trixie sid

# Debian 13 packages zonetp and zonetp-dkms into build/deb/, checked with
# lintian (docs/packaging.md): on Debian 13, or from any host with
# `scripts/distro-root trixie run make -C $PWD deb`.
.PHONY: deb
deb:
	scripts/make-deb

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
