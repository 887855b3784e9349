//! Picks the configuration's home from `--db`/`ZONETP_DB`: OVSDB remotes
//! (`unix:PATH`, `tcp:IP:PORT`, lists of them) or a JSON file path; a
//! value that looks like a mistyped remote is refused (`check_db_spec`).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use zonetp::cttimeout::CtTimeoutClient;
use zonetp::ovsdb::client::direct_dialer;
use zonetp::ovsdb::{check_db_spec, is_remote_spec, parse_remotes, Dialer, OvsdbStore};
use zonetp::reconcile::kernel_policy_ids;
use zonetp::store::{Store, PATH_ENV};
use zonetp::zone_store::ZoneStore;

use crate::failure::{usage, CmdResult};

pub enum Backend {
    File(Store),
    // Boxed: the client it holds makes it several times the file's size.
    Ovsdb(Box<OvsdbStore>),
}

impl Backend {
    /// `dialer`: how to reach a database server (from the caller's
    /// namespace under `--netns`).
    pub fn open(db: Option<&Path>, dialer: Option<Dialer>) -> CmdResult<Self> {
        let spec = db
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| std::env::var(PATH_ENV).ok().filter(|v| !v.is_empty()));
        if let Some(spec) = &spec {
            check_db_spec(spec, if db.is_some() { "--db" } else { PATH_ENV }).map_err(usage)?;
        }
        match spec.filter(|s| is_remote_spec(s)) {
            Some(spec) => {
                let remotes = parse_remotes(&spec).map_err(usage)?;
                let store = OvsdbStore::new(remotes, dialer.unwrap_or_else(direct_dialer));
                Ok(Backend::Ovsdb(Box::new(store.with_id_reader(Arc::new(kernel_ids)))))
            }
            None => Ok(Backend::File(Store::locate(db))),
        }
    }

    pub fn zones(&self) -> &dyn ZoneStore {
        match self {
            Backend::File(s) => s,
            Backend::Ovsdb(s) => s.as_ref(),
        }
    }
}

/// The ids of the `ovs_tp_<id>_*` objects in the kernel of this network
/// namespace (`--netns`'s), which numbering skips as sync does: read once
/// per command, and only by one that numbers rows ovs-vsctl inserted.
/// Without access to the kernel (no CAP_NET_ADMIN, no cttimeout support)
/// there are none, and ids come from the database alone (docs/ovsdb.md).
fn kernel_ids() -> BTreeSet<u32> {
    static IDS: OnceLock<BTreeSet<u32>> = OnceLock::new();
    IDS.get_or_init(|| {
        CtTimeoutClient::open().and_then(|mut c| kernel_policy_ids(&mut c)).unwrap_or_default()
    })
    .clone()
}
