//! Following the database live: a `monitor` on the four zone tables keeps
//! a copy of their rows, updated by the server's notifications (no
//! polling), row by row: a notification costs in proportion to the rows
//! it names, not to the size of the tables. When the connection goes (server restarted, cluster member
//! killed, member cut off from its cluster), the follower moves on to the
//! next remote of the list with a growing delay, and starts over with a
//! full copy, so nothing that changed meanwhile is missed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::client::{Client, Dialer};
use super::datum::{apply_diff_in_place, ColumnKind};
use super::remote::Remote;
use super::vswitch::{Snapshot, Tables, DB};
use super::DbError;

const MONITOR_ID: &str = "zonetp";
const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";
const SERVER_MONITOR_ID: &str = "zonetp-server";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// After this long without a word from the server, ask it for an echo: a
/// server (or host) gone silent, without closing the connection, is found
/// out within this plus the reply timeout.
const PROBE_IDLE: Duration = Duration::from_secs(5);

pub enum Event {
    /// The tables changed (or were copied anew after a connect):
    /// [`Follower::snapshot`] has them as they are now.
    Changed,
    /// Nothing happened before the deadline.
    Idle,
    /// The connection failed or was lost; the next call retries.
    Lost(String),
    /// A connection was made (after a loss, possibly to another member);
    /// `resumed`: only the changes since the last transaction seen came.
    Connected { remote: Remote, resumed: bool },
}

pub struct Follower {
    remotes: Vec<Remote>,
    dialer: Dialer,
    /// The remote tried next: after a loss, the one after the lost one.
    next_remote: usize,
    client: Option<Client>,
    /// The copy of the rows, and what they say.
    snapshot: Snapshot,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// A connect happened; the initial copy is reported next.
    fresh: bool,
    /// The newest Raft log index seen of a clustered database: a member
    /// behind it is not followed.
    min_index: i64,
    /// The last transaction seen (monitor_cond_since), to resume after.
    last_txn_id: Option<String>,
    since_supported: bool,
    /// When the server was last heard from.
    last_heard: Instant,
}

impl Follower {
    pub fn new(remotes: Vec<Remote>, dialer: Dialer) -> Self {
        Self {
            remotes,
            dialer,
            next_remote: 0,
            client: None,
            snapshot: Snapshot::default(),
            backoff: FIRST_BACKOFF,
            retry_at: None,
            fresh: false,
            min_index: 0,
            last_txn_id: None,
            since_supported: true,
            last_heard: Instant::now(),
        }
    }

    /// The tables as the last event left them.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The same, to record what the caller learnt of the kernel
    /// ([`Snapshot::reserved_ids`]); the follower changes only the rows.
    pub fn snapshot_mut(&mut self) -> &mut Snapshot {
        &mut self.snapshot
    }

    /// The connection, for transactions between events.
    pub fn client(&mut self) -> Option<&mut Client> {
        self.client.as_mut()
    }

    /// Drops the connection (after a failed transaction, say); the next
    /// call reconnects.
    pub fn drop_connection(&mut self, why: &str) -> Event {
        let lost = self.client.take().map(|c| c.conn.remote().to_string()).unwrap_or_default();
        self.next_remote = (self.next_remote + 1) % self.remotes.len().max(1);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Event::Lost(format!("{lost}: {why}"))
    }

    fn connect(&mut self) -> Result<(Remote, bool), DbError> {
        let (mut client, i) =
            Client::connect_any(&self.remotes, self.next_remote, &self.dialer, self.min_index)?;
        self.min_index = self.min_index.max(client.index.unwrap_or(0));
        let requests: Map<String, Value> = client
            .schema
            .columns()
            .into_iter()
            .map(|(table, cols)| (table.to_owned(), json!({"columns": cols})))
            .collect();
        // monitor_cond_since (OVS 2.12) resumes after the last transaction
        // seen; plain monitor always sends everything.
        let mut resumed = false;
        let mut initial = None;
        if self.since_supported {
            let last = self.last_txn_id.clone().unwrap_or_else(|| ZERO_UUID.to_owned());
            match client.conn.request("monitor_cond_since", json!([DB, MONITOR_ID, requests, last])) {
                Ok(reply) => {
                    resumed = reply[0] == json!(true) && self.last_txn_id.is_some();
                    if !resumed {
                        self.snapshot.tables = Tables::new();
                    }
                    self.last_txn_id = reply[1].as_str().map(str::to_owned);
                    apply2(
                        &mut self.snapshot.tables,
                        &reply[2],
                        &client.schema.kinds,
                        &mut Changes::default(),
                    );
                    initial = Some(());
                }
                Err(DbError::Rpc(_)) => self.since_supported = false,
                Err(e) => return Err(e),
            }
        }
        if initial.is_none() {
            let reply = client.conn.request("monitor", json!([DB, MONITOR_ID, requests]))?;
            self.snapshot.tables = Tables::new();
            apply(&mut self.snapshot.tables, &reply, &mut BTreeSet::new());
        }
        // Read in full once per connection; row by row from then on.
        self.snapshot = Snapshot::from_tables(std::mem::take(&mut self.snapshot.tables));
        // Learn when a cluster member loses its cluster; a standalone
        // server without `_Server` has nothing to tell.
        match client.conn.request(
            "monitor",
            json!(["_Server", SERVER_MONITOR_ID, {"Database": {"columns": ["name", "model", "connected", "index"]}}]),
        ) {
            Ok(_) | Err(DbError::Rpc(_)) => {}
            Err(e) => return Err(e),
        }
        let remote = client.conn.remote().clone();
        self.next_remote = i;
        self.client = Some(client);
        self.backoff = FIRST_BACKOFF;
        self.retry_at = None;
        self.fresh = true;
        self.last_heard = Instant::now();
        Ok((remote, resumed))
    }

    /// Waits for the next event until `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Event {
        if self.client.is_none() {
            if let Some(at) = self.retry_at.filter(|at| *at > Instant::now()) {
                std::thread::sleep(at.min(deadline).saturating_duration_since(Instant::now()));
                if at > Instant::now() {
                    return Event::Idle;
                }
            }
            return match self.connect() {
                Ok((remote, resumed)) => Event::Connected { remote, resumed },
                Err(e) => {
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    Event::Lost(e.to_string())
                }
            };
        }
        if self.fresh {
            self.fresh = false;
            return Event::Changed;
        }
        if self.last_heard.elapsed() >= PROBE_IDLE {
            let probe = self.client.as_mut().expect("connected").conn.request("echo", json!(["zonetp"]));
            if let Err(e) = probe {
                return self.drop_connection(&e.to_string());
            }
            self.last_heard = Instant::now();
        }
        let client = self.client.as_mut().expect("connected");
        let mut changed = Changes::default();
        let mut wait_until = deadline;
        loop {
            let msg = match client.conn.notification(wait_until) {
                Ok(Some(m)) => {
                    self.last_heard = Instant::now();
                    m
                }
                Ok(None) => break,
                Err(e) => return self.drop_connection(&e.to_string()),
            };
            let params = &msg["params"];
            if msg["method"] == "update3" && params[0] == MONITOR_ID {
                apply2(&mut self.snapshot.tables, &params[2], &client.schema.kinds, &mut changed);
                self.last_txn_id = params[1].as_str().map(str::to_owned);
                wait_until = Instant::now();
                continue;
            }
            if msg["method"] != "update" {
                continue;
            }
            if params[0] == SERVER_MONITOR_ID {
                self.min_index = self.min_index.max(newest_index(&params[1]));
                if member_disconnected(&params[1]) {
                    return self.drop_connection("the cluster member lost its cluster");
                }
                continue;
            }
            apply(&mut self.snapshot.tables, &params[1], &mut changed.rows);
            // Take what else already arrived, then report once.
            wait_until = Instant::now();
        }
        if changed.rows.is_empty() && changed.zones.is_empty() {
            return Event::Idle;
        }
        changed.read_into(&mut self.snapshot);
        Event::Changed
    }
}

/// Applies `<table-updates>` (RFC 7047 4.1.6) to the copy: a row with
/// `new` is inserted or has those columns replaced, one without is gone.
/// The rows touched are added to `changed` as (table, UUID).
fn apply(tables: &mut Tables, updates: &Value, changed: &mut BTreeSet<(String, String)>) {
    let Some(updates) = updates.as_object() else { return };
    for (table, rows) in updates {
        let Some(rows) = rows.as_object() else { continue };
        let copy = tables.entry(table.clone()).or_default();
        for (uuid, update) in rows {
            changed.insert((table.clone(), uuid.clone()));
            match update.get("new").and_then(Value::as_object) {
                Some(new) => {
                    let row = copy.entry(uuid.clone()).or_default();
                    for (k, v) in new {
                        row.insert(k.clone(), v.clone());
                    }
                }
                None => {
                    copy.remove(uuid);
                }
            }
        }
    }
}

/// What the notifications taken at once changed.
#[derive(Debug, Default)]
struct Changes {
    /// Rows to read again, as (table, UUID).
    rows: BTreeSet<(String, String)>,
    /// Differences of datapath rows' `ct_zones` (and nothing else of the
    /// row), in the order they came.
    zones: Vec<(String, Value)>,
}

impl Changes {
    /// Brings `snapshot`'s rows up to date with its tables, already
    /// changed: the rows named are read again, then the zone differences
    /// applied to the datapath rows not read again (those already have
    /// them).
    fn read_into(self, snapshot: &mut Snapshot) {
        for (table, uuid) in &self.rows {
            snapshot.refresh_row(table, uuid);
        }
        for (dp, diff) in &self.zones {
            if !self.rows.contains(&("Datapath".to_owned(), dp.clone())) {
                snapshot.apply_ct_zones_diff(dp, diff);
            }
        }
    }
}

/// The highest log index of our database in a `_Server` update.
fn newest_index(updates: &Value) -> i64 {
    updates["Database"]
        .as_object()
        .map(|rows| {
            rows.values()
                .filter(|u| u["new"]["name"] == DB)
                .filter_map(|u| u["new"]["index"].as_i64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Applies `<table-updates2>` (ovsdb-server(7) 4.1.14): rows come whole
/// in `initial`/`insert` (columns at their default left out), as
/// differences in `modify`. The rows touched are added to `changed`.
fn apply2(
    tables: &mut Tables,
    updates: &Value,
    kinds: &BTreeMap<(String, String), ColumnKind>,
    changed: &mut Changes,
) {
    let Some(updates) = updates.as_object() else { return };
    for (table, rows) in updates {
        let Some(rows) = rows.as_object() else { continue };
        let copy = tables.entry(table.clone()).or_default();
        for (uuid, update) in rows {
            match update.get("modify").and_then(Value::as_object) {
                // The zones of a datapath: read as a difference.
                Some(diff) if table == "Datapath" && diff.len() == 1 && diff.contains_key("ct_zones") => {
                    changed.zones.push((uuid.clone(), diff["ct_zones"].clone()))
                }
                _ => drop(changed.rows.insert((table.clone(), uuid.clone()))),
            }
            if let Some(row) =
                update.get("initial").or_else(|| update.get("insert")).and_then(Value::as_object)
            {
                copy.insert(uuid.clone(), row.clone());
            } else if let Some(diff) = update.get("modify").and_then(Value::as_object) {
                let row = copy.entry(uuid.clone()).or_default();
                for (column, d) in diff {
                    let kind =
                        kinds.get(&(table.clone(), column.clone())).copied().unwrap_or(ColumnKind::Scalar);
                    apply_diff_in_place(kind, row.entry(column.clone()).or_insert(Value::Null), d);
                }
            } else if update.get("delete").is_some() {
                copy.remove(uuid);
            }
        }
    }
}

fn member_disconnected(updates: &Value) -> bool {
    updates["Database"].as_object().is_some_and(|rows| {
        rows.values().any(|u| {
            let new = &u["new"];
            // `name` is only sent when it changed; the row is ours if it
            // names our database or if the model is clustered and the
            // connection went down on the only database that can.
            (new["name"] == DB || new.get("name").is_none())
                && new["connected"] == json!(false)
                && (new["model"] == "clustered" || new.get("model").is_none())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_insert_modify_and_delete_rows() {
        let mut t = Tables::new();
        let mut changed = BTreeSet::new();
        apply(
            &mut t,
            &json!({"CT_Zone": {"a": {"new": {"timeout_policy": ["uuid", "p"]}},
                                          "b": {"new": {"timeout_policy": ["set", []]}}}}),
            &mut changed,
        );
        assert_eq!(t["CT_Zone"].len(), 2);
        changed.clear();
        apply(
            &mut t,
            &json!({"CT_Zone": {"a": {"old": {"timeout_policy": ["uuid", "p"]},
                                                "new": {"timeout_policy": ["uuid", "q"]}},
                                          "b": {"old": {}}}}),
            &mut changed,
        );
        assert_eq!(changed, BTreeSet::from([("CT_Zone".into(), "a".into()), ("CT_Zone".into(), "b".into())]));
        assert_eq!(t["CT_Zone"]["a"]["timeout_policy"], json!(["uuid", "q"]));
        assert!(!t["CT_Zone"].contains_key("b"));
    }

    #[test]
    fn update2_rows_and_differences_apply() {
        let kinds = BTreeMap::from([
            (("CT_Zone".to_owned(), "timeout_policy".to_owned()), ColumnKind::Scalar),
            (("Open_vSwitch".to_owned(), "next_cfg".to_owned()), ColumnKind::Scalar),
            (("Datapath".to_owned(), "ct_zones".to_owned()), ColumnKind::Map),
        ]);
        let mut t = Tables::new();
        let mut changed = Changes::default();
        apply2(
            &mut t,
            &json!({"CT_Zone": {"a": {"initial": {"timeout_policy": ["uuid", "p"]}}, "b": {"insert": {}},
                                "c": {"insert": {"timeout_policy": ["uuid", "p"]}}},
                    "Datapath": {"d": {"initial": {"ct_zones": ["map", [[1, ["uuid", "a"]], [2, ["uuid", "b"]]]]}}},
                    "Open_vSwitch": {"o": {"initial": {}}}}),
            &kinds,
            &mut changed,
        );
        let mut snapshot = Snapshot::from_tables(t.clone());
        assert_eq!(snapshot.index.users("p", Some("d")), (1, false));
        changed = Changes::default();
        apply2(
            &mut snapshot.tables,
            &json!({"CT_Zone": {"a": {"modify": {"timeout_policy": ["uuid", "q"]}},
                                "b": {"delete": null}},
                    "Datapath": {"d": {"modify": {"ct_zones": ["map", [[2, ["uuid", "b"]], [3, ["uuid", "c"]]]]}}},
                    "Open_vSwitch": {"o": {"modify": {"next_cfg": 3}}}}),
            &kinds,
            &mut changed,
        );
        assert_eq!(changed.rows.len(), 3, "{changed:?}");
        assert_eq!(changed.zones.len(), 1, "the datapath's zones come as a difference: {changed:?}");
        // The rows named read again and the zones' difference applied make
        // the snapshot, and the index, a full read makes.
        changed.read_into(&mut snapshot);
        let full = Snapshot::from_tables(snapshot.tables.clone());
        assert_eq!(
            (&snapshot.ovs, &snapshot.zones, &snapshot.datapaths, &snapshot.policies),
            (&full.ovs, &full.zones, &full.datapaths, &full.policies)
        );
        let (mut kept, mut read) = (snapshot.index.clone(), full.index.clone());
        kept.take_dirty();
        read.take_dirty();
        assert_eq!(kept, read);
        assert_eq!(snapshot.zones["a"].timeout_policy.as_deref(), Some("q"));
        assert_eq!(snapshot.datapaths["d"].ct_zones.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(snapshot.index.users("p", Some("d")), (1, false), "zone 3's");
        assert_eq!(snapshot.ovs.as_ref().unwrap().next_cfg, 3);
        let t = snapshot.tables;
        assert_eq!(t["CT_Zone"]["a"]["timeout_policy"], json!(["uuid", "q"]));
        assert!(!t["CT_Zone"].contains_key("b"));
        assert_eq!(t["Open_vSwitch"]["o"]["next_cfg"], json!(3));
    }

    #[test]
    fn a_cut_off_member_is_noticed() {
        let down =
            json!({"Database": {"x": {"new": {"name": DB, "model": "clustered", "connected": false}}}});
        assert!(member_disconnected(&down));
        let other = json!({"Database": {"x": {"new": {"name": "_Server", "model": "standalone", "connected": false}}}});
        assert!(!member_disconnected(&other));
        assert!(!member_disconnected(&json!({"Database": {"x": {"new": {"name": DB, "connected": true}}}})));
    }
}
