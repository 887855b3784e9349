#!/bin/bash
# Usage (inside a VM on a distribution kernel): guest-modular-deps.sh SCRIPT [ARGS...]
#
# Debian's kernel builds conntrack and nfnetlink as modules (=m), where the
# zonetp test kernel has them built in, and the VM test scripts load
# zonetp.ko with insmod, which does not resolve dependencies.  Loads the two
# modules zonetp.ko needs symbols from, then runs SCRIPT ARGS.
set -uo pipefail
modprobe -a nf_conntrack nfnetlink || { echo "guest-modular-deps: modprobe nf_conntrack nfnetlink failed"; exit 1; }
exec bash "$@"
