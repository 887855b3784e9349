#!/bin/bash
# Usage (inside a VM on a distribution kernel): guest-modular-deps.sh SCRIPT [ARGS...]
#
# Debian's kernel builds conntrack as a module (nf_conntrack=m), where the
# zonetp test kernel has it built in, and the VM test scripts load
# zonetp.ko with insmod, which does not resolve dependencies.  Loads the
# module zonetp.ko needs symbols from (nfnetlink is built in), then runs
# SCRIPT ARGS.
set -uo pipefail
modprobe nf_conntrack || { echo "guest-modular-deps: modprobe nf_conntrack failed"; exit 1; }
exec bash "$@"
