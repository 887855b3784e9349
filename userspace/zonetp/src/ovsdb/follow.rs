//! Following the database live: a `monitor` on the four zone tables keeps
//! a copy of their rows, updated by the server's notifications (no
//! polling). When the connection goes (server restarted, cluster member
//! killed, member cut off from its cluster), the follower moves on to the
//! next remote of the list with a growing delay, and starts over with a
//! full copy, so nothing that changed meanwhile is missed.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::client::{Client, Dialer};
use super::remote::Remote;
use super::vswitch::{Snapshot, Tables, DB};
use super::DbError;

const MONITOR_ID: &str = "zonetp";
const SERVER_MONITOR_ID: &str = "zonetp-server";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

pub enum Event {
    /// The tables now (after a connect, or after a change).
    Changed(Snapshot),
    /// Nothing happened before the deadline.
    Idle,
    /// The connection failed or was lost; the next call retries.
    Lost(String),
    /// A connection was made (after a loss, possibly to another member).
    Connected(Remote),
}

pub struct Follower {
    remotes: Vec<Remote>,
    dialer: Dialer,
    /// The remote tried next: after a loss, the one after the lost one.
    next_remote: usize,
    client: Option<Client>,
    tables: Tables,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// A connect happened; the initial copy is reported next.
    fresh: bool,
    /// The newest Raft log index seen of a clustered database: a member
    /// behind it is not followed.
    min_index: i64,
}

impl Follower {
    pub fn new(remotes: Vec<Remote>, dialer: Dialer) -> Self {
        Self {
            remotes,
            dialer,
            next_remote: 0,
            client: None,
            tables: Tables::new(),
            backoff: FIRST_BACKOFF,
            retry_at: None,
            fresh: false,
            min_index: 0,
        }
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

    fn connect(&mut self) -> Result<Remote, DbError> {
        let (mut client, i) =
            Client::connect_any(&self.remotes, self.next_remote, &self.dialer, self.min_index)?;
        self.min_index = self.min_index.max(client.index.unwrap_or(0));
        let requests: Map<String, Value> = client
            .schema
            .columns()
            .into_iter()
            .map(|(table, cols)| (table.to_owned(), json!({"columns": cols})))
            .collect();
        let initial = client.conn.request("monitor", json!([DB, MONITOR_ID, requests]))?;
        // Learn when a cluster member loses its cluster; a standalone
        // server without `_Server` has nothing to tell.
        match client.conn.request(
            "monitor",
            json!(["_Server", SERVER_MONITOR_ID, {"Database": {"columns": ["name", "model", "connected", "index"]}}]),
        ) {
            Ok(_) | Err(DbError::Rpc(_)) => {}
            Err(e) => return Err(e),
        }
        self.tables = Tables::new();
        apply(&mut self.tables, &initial);
        let remote = client.conn.remote().clone();
        self.next_remote = i;
        self.client = Some(client);
        self.backoff = FIRST_BACKOFF;
        self.retry_at = None;
        self.fresh = true;
        Ok(remote)
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
                Ok(remote) => Event::Connected(remote),
                Err(e) => {
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    Event::Lost(e.to_string())
                }
            };
        }
        if self.fresh {
            self.fresh = false;
            return Event::Changed(Snapshot::from_tables(self.tables.clone()));
        }
        let client = self.client.as_mut().expect("connected");
        let mut changed = false;
        let mut wait_until = deadline;
        loop {
            let msg = match client.conn.notification(wait_until) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return self.drop_connection(&e.to_string()),
            };
            if msg["method"] != "update" {
                continue;
            }
            let params = &msg["params"];
            if params[0] == SERVER_MONITOR_ID {
                self.min_index = self.min_index.max(newest_index(&params[1]));
                if member_disconnected(&params[1]) {
                    return self.drop_connection("the cluster member lost its cluster");
                }
                continue;
            }
            apply(&mut self.tables, &params[1]);
            changed = true;
            // Take what else already arrived, then report once.
            wait_until = Instant::now();
        }
        if changed {
            Event::Changed(Snapshot::from_tables(self.tables.clone()))
        } else {
            Event::Idle
        }
    }
}

/// Applies `<table-updates>` (RFC 7047 4.1.6) to the copy: a row with
/// `new` is inserted or has those columns replaced, one without is gone.
fn apply(tables: &mut Tables, updates: &Value) {
    let Some(updates) = updates.as_object() else { return };
    for (table, rows) in updates {
        let Some(rows) = rows.as_object() else { continue };
        let copy = tables.entry(table.clone()).or_default();
        for (uuid, update) in rows {
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
        apply(
            &mut t,
            &json!({"CT_Zone": {"a": {"new": {"timeout_policy": ["uuid", "p"]}},
                                          "b": {"new": {"timeout_policy": ["set", []]}}}}),
        );
        assert_eq!(t["CT_Zone"].len(), 2);
        apply(
            &mut t,
            &json!({"CT_Zone": {"a": {"old": {"timeout_policy": ["uuid", "p"]},
                                                "new": {"timeout_policy": ["uuid", "q"]}},
                                          "b": {"old": {}}}}),
        );
        assert_eq!(t["CT_Zone"]["a"]["timeout_policy"], json!(["uuid", "q"]));
        assert!(!t["CT_Zone"].contains_key("b"));
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
