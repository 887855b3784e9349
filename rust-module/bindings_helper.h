/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers zonetp's module-local Rust bindings are generated from (see the
 * bindgen rule in Kbuild).  Static inline kernel functions have no symbol to
 * bind to; they get a C wrapper in compat/zonetp_compat.c instead.
 */
#include <linux/netdevice.h>
#include <linux/netlink.h>
#include <net/netlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_timeout.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_cttimeout.h>

#include "zonetp_compat.h"
