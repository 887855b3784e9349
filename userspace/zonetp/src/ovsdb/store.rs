//! The zone verbs on an Open vSwitch database: each change is one
//! transaction, computed from the rows it read and guarded by waits on
//! them, so a concurrent ovs-vsctl or zonetp never gets overwritten.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::client::{Client, Dialer, IdReader};
use super::remote::Remote;
use super::vswitch::{Change, Snapshot, Wording};
use super::DbError;
use crate::config::{dp_record_not_found, Config, DpSettings, LimitZone};
use crate::error::{Error, Result};
use crate::policy::TimeoutPolicy;
use crate::zone_store::ZoneStore;

pub struct OvsdbStore {
    remotes: Vec<Remote>,
    dialer: Dialer,
    client: RefCell<Option<Client>>,
    /// Ids numbering skips: those of kernel objects present, once the
    /// caller read them ([`ZoneStore::reserve_ids`]).
    reserved_ids: RefCell<Option<BTreeSet<u32>>>,
    /// Until then, how to read them when a snapshot has rows to number.
    read_reserved: Option<IdReader>,
}

impl OvsdbStore {
    pub fn new(remotes: Vec<Remote>, dialer: Dialer) -> Self {
        Self {
            remotes,
            dialer,
            client: RefCell::new(None),
            reserved_ids: RefCell::default(),
            read_reserved: None,
        }
    }

    /// Numbering (in memory for reading verbs, in the database for every
    /// change) skips the ids `read` returns, read when there are rows to
    /// number, unless [`ZoneStore::reserve_ids`] gave them first.
    pub fn with_id_reader(mut self, read: IdReader) -> Self {
        self.read_reserved = Some(read);
        self
    }

    pub fn remotes(&self) -> &[Remote] {
        &self.remotes
    }

    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Runs `f` on a connection, made on first use from the first usable
    /// remote. A lost connection is made again once, on any member.
    pub fn with_client<T>(&self, mut f: impl FnMut(&mut Client) -> Result<T, DbError>) -> Result<T> {
        let mut slot = self.client.borrow_mut();
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(Client::connect_any(&self.remotes, 0, &self.dialer, 0)?.0);
            }
            let client = slot.as_mut().expect("connected");
            let reserved = self.reserved_ids.borrow();
            client.reserved_ids = reserved.clone().unwrap_or_default();
            client.read_reserved = if reserved.is_some() { None } else { self.read_reserved.clone() };
            drop(reserved);
            match f(client) {
                Err(DbError::Io(_)) if attempt == 0 => *slot = None,
                other => return other.map_err(Error::from),
            }
        }
        unreachable!("the second attempt returns")
    }

    fn change(&self, f: impl Fn(&Snapshot, &Wording) -> Result<Change, String>) -> Result<()> {
        self.with_client(|c| {
            let wording = Wording { zone_limit: c.schema.zone_limit };
            c.change(|s| f(s, &wording))
        })?
        .map_err(Error::Invalid)
    }

    /// The current rows as they are, rows without an id numbered in
    /// memory only: reading needs no write access.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(self.with_client(Client::snapshot)?.with_provisional_ids())
    }

    /// The current rows, every policy numbered in the database first (for
    /// sync, whose kernel objects are named by the ids).
    pub fn numbered_snapshot(&self) -> Result<Snapshot> {
        self.with_client(Client::snapshot_with_ids)
    }

    /// True if ovs-vswitchd (or anything holding its lock) manages this
    /// database now.
    pub fn vswitchd_lock_held(&self) -> Result<bool> {
        self.with_client(|c| c.lock_is_held("ovs_vswitchd"))
    }
}

impl ZoneStore for OvsdbStore {
    fn read(&self) -> Result<Config> {
        // A datapath with an unreadable setting fails its own verbs only
        // (`Config::unusable_datapaths`).
        Ok(self.snapshot()?.to_config())
    }
    fn describe(&self) -> String {
        let remotes: Vec<String> = self.remotes.iter().map(ToString::to_string).collect();
        format!("Open vSwitch database {}", remotes.join(","))
    }
    fn add_dp(&self, name: &str, may_exist: bool) -> Result<()> {
        self.change(|s, _| Change::add_dp(s, name, may_exist))
    }
    fn del_dp(&self, name: &str, if_exists: bool) -> Result<()> {
        self.change(|s, _| Change::del_dp(s, name, if_exists))
    }
    fn set_dp(&self, name: &str, settings: DpSettings) -> Result<()> {
        self.change(|s, _| Change::set_dp(s, name, settings))
    }
    fn add_zone_tp(&self, dp: &str, zone: u16, policy: TimeoutPolicy, may_exist: bool) -> Result<()> {
        self.change(|s, w| Change::add_zone_tp(s, w, dp, zone, &policy, may_exist))
    }
    fn del_zone_tp(&self, dp: &str, zone: u16, if_exists: bool) -> Result<()> {
        self.change(|s, w| Change::del_zone_tp(s, w, dp, zone, if_exists))
    }
    fn reserve_ids(&self, ids: BTreeSet<u32>) {
        *self.reserved_ids.borrow_mut() = Some(ids);
    }
    fn check_zone_limits(&self, verb: &str) -> Result<()> {
        if self.with_client(|c| Ok(c.schema.has_zone_limits()))? {
            Ok(())
        } else {
            Err(Error::Invalid(format!("unknown command '{verb}'; use --help for help")))
        }
    }
    fn set_zone_limit(&self, dp: &str, zone: LimitZone, limit: i64) -> Result<()> {
        self.check_zone_limits("set-zone-limit")?;
        self.change(|s, _| Change::set_zone_limit(s, dp, zone, limit))
    }
    fn del_zone_limit(&self, dp: &str, zone: LimitZone, if_exists: bool) -> Result<()> {
        self.check_zone_limits("del-zone-limit")?;
        self.change(|s, _| Change::del_zone_limit(s, dp, zone, if_exists))
    }
    fn dp_capabilities(&self, dp: &str) -> Result<BTreeMap<String, String>> {
        match self.with_client(|c| c.datapath_capabilities(dp))? {
            Some((_, caps)) => Ok(caps),
            None => Err(Error::Invalid(dp_record_not_found(dp))),
        }
    }
    fn set_capabilities(&self, dp: &str, caps: &BTreeMap<String, String>) -> Result<()> {
        if self.with_client(|c| c.set_capabilities(dp, caps))? {
            Ok(())
        } else {
            Err(Error::Invalid(format!("datapath {dp} does not exist")))
        }
    }
    /// Ids come from a counter that only grows: none is ever reused, so
    /// there is nothing to keep reserved.
    fn settle_retired(&self, _seen: &BTreeSet<u32>, _pending: &BTreeSet<u32>) -> Result<()> {
        Ok(())
    }
}
