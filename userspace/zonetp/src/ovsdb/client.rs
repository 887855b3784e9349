//! An OVSDB client for the `Open_vSwitch` database: connects to the first
//! usable member of a remote list, checks the schema, reads the zone
//! tables in one transaction and commits changes guarded by `wait`
//! operations, retrying when another client changed the rows first.

use std::sync::Arc;

use serde_json::{json, Value};

use super::jsonrpc::{error_text, Connection};
use super::remote::{Remote, Stream};
use super::vswitch::{
    capabilities_of, capabilities_selects, CapabilitiesRow, Change, SchemaInfo, Snapshot, DB,
};
use super::DbError;

/// Opens a stream to a remote; `--netns` swaps in one that connects from
/// the caller's namespace.
pub type Dialer = Arc<dyn Fn(&Remote) -> Result<Stream, DbError> + Send + Sync>;

pub fn direct_dialer() -> Dialer {
    Arc::new(|r: &Remote| Stream::connect(r, super::jsonrpc::CONNECT_TIMEOUT))
}

/// Reads the ids numbering must skip although no row has them (those of
/// `ovs_tp_<id>_*` objects in the kernel, see [`Snapshot::reserved_ids`]).
/// Called only when a snapshot has rows to number: reading the kernel
/// may need privileges a reader of the database lacks.
pub type IdReader = Arc<dyn Fn() -> std::collections::BTreeSet<u32> + Send + Sync>;

/// How often a change computed from stale rows is recomputed.
const MAX_ATTEMPTS: usize = 50;

pub struct Client {
    pub conn: Connection,
    pub schema: SchemaInfo,
    /// For a cluster member: the Raft log index of its copy when we
    /// connected (`_Server.Database.index`).
    pub index: Option<i64>,
    /// Ids numbering must skip (see [`Snapshot::reserved_ids`]), given to
    /// every snapshot this client reads.
    pub reserved_ids: std::collections::BTreeSet<u32>,
    /// Reads more ids to skip for a snapshot with rows to number, which
    /// reading verbs number in memory and every change in the database:
    /// each must skip the kernel's ids as sync does.
    pub read_reserved: Option<IdReader>,
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxnError {
    /// A `wait` failed: the rows changed since they were read.
    Conflict,
    Db(DbError),
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxnError::Conflict => f.write_str("the rows changed meanwhile"),
            TxnError::Db(e) => e.fmt(f),
        }
    }
}

impl From<DbError> for TxnError {
    fn from(e: DbError) -> Self {
        TxnError::Db(e)
    }
}

impl Client {
    /// Connects to `remote` and checks that it serves a usable
    /// `Open_vSwitch` database: schema 8.2.0 or later, and for a member of
    /// a cluster, one that is connected to the cluster (a member cut off
    /// from the others serves stale rows) and not behind `min_index`, the
    /// newest copy already seen (so a failover never goes back in time).
    pub fn connect(remote: &Remote, dialer: &Dialer, min_index: i64) -> Result<Self, DbError> {
        let mut conn = Connection::from_stream(dialer(remote)?, remote);
        let schema = conn.request("get_schema", json!([DB])).map_err(|e| match e {
            DbError::Rpc(m) => {
                DbError::Protocol(format!("{remote}: {m} (is this an Open_vSwitch database server?)"))
            }
            e => e,
        })?;
        let schema = SchemaInfo::from_schema(&schema)?;
        let mut client =
            Self { conn, schema, index: None, reserved_ids: Default::default(), read_reserved: None };
        if let Some(why) = client.cluster_problem(min_index)? {
            return Err(DbError::Io(format!("{remote}: {why}")));
        }
        Ok(client)
    }

    /// Connects to the first usable remote of the list, starting at
    /// `start`; returns the client and the index of its remote. The error
    /// is permanent ([`DbError::is_permanent`]) only if every remote's is.
    pub fn connect_any(
        remotes: &[Remote],
        start: usize,
        dialer: &Dialer,
        min_index: i64,
    ) -> Result<(Self, usize), DbError> {
        let mut errors = Vec::new();
        for k in 0..remotes.len() {
            let i = (start + k) % remotes.len();
            match Self::connect(&remotes[i], dialer, min_index) {
                Ok(c) => return Ok((c, i)),
                Err(e) if remotes.len() == 1 && e.is_permanent() => return Err(e),
                Err(e) => errors.push(e),
            }
        }
        let permanent = !errors.is_empty() && errors.iter().all(DbError::is_permanent);
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Err(if permanent { DbError::Protocol(text) } else { DbError::Io(text) })
    }

    /// For a clustered database: why this member cannot be used, if so.
    /// Servers without the `_Server` database (before OVS 2.9) are
    /// standalone.
    pub fn cluster_problem(&mut self, min_index: i64) -> Result<Option<String>, DbError> {
        let reply = match self.conn.request(
            "transact",
            json!(["_Server", {"op": "select", "table": "Database", "where": [["name", "==", DB]],
                "columns": ["model", "connected", "index"]}]),
        ) {
            Ok(r) => r,
            Err(DbError::Rpc(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let row = &reply[0]["rows"][0];
        if row["model"] != "clustered" {
            return Ok(None);
        }
        if row["connected"] == json!(false) {
            return Ok(Some("this cluster member is not connected to the cluster".to_owned()));
        }
        self.index = row["index"].as_i64();
        match self.index {
            Some(index) if index < min_index => Ok(Some(format!(
                "this cluster member is behind (log index {index}, already seen {min_index})"
            ))),
            _ => Ok(None),
        }
    }

    /// Runs a transaction; `Conflict` when one of its waits failed.
    pub fn transact(&mut self, ops: &[Value]) -> Result<Vec<Value>, TxnError> {
        let mut params = vec![json!(DB)];
        params.extend(ops.iter().cloned());
        let reply = self.conn.request("transact", Value::Array(params))?;
        let results = reply
            .as_array()
            .cloned()
            .ok_or_else(|| DbError::Protocol(format!("transact: unexpected reply {reply}")))?;
        if let Some(err) = results.iter().find(|r| r.get("error").is_some_and(|e| !e.is_null())) {
            if err["error"] == "timed out" {
                return Err(TxnError::Conflict);
            }
            return Err(DbError::Rpc(format!("transaction error: {}", error_text(err))).into());
        }
        Ok(results)
    }

    /// The zone tables, read in one transaction.
    pub fn snapshot(&mut self) -> Result<Snapshot, DbError> {
        let columns = self.schema.columns();
        let ops: Vec<Value> = columns
            .iter()
            .map(|(table, cols)| {
                let mut all = vec!["_uuid"];
                all.extend(cols.iter().copied());
                json!({"op": "select", "table": table, "where": [], "columns": all})
            })
            .collect();
        let replies = self.transact(&ops).map_err(|e| match e {
            TxnError::Conflict => DbError::Protocol("select: unexpected wait failure".into()),
            TxnError::Db(e) => e,
        })?;
        let mut s = Snapshot::from_selects(&columns, &replies)?;
        s.check_ids().map_err(DbError::Protocol)?;
        s.reserved_ids = self.reserved_ids.clone();
        if let Some(read) = self.read_reserved.as_ref().filter(|_| !s.rows_without_id().is_empty()) {
            s.reserved_ids.extend(read());
        }
        Ok(s)
    }

    /// A snapshot in which every policy row has a zonetp id: rows another
    /// tool inserted get one first, written to the database (for writing
    /// verbs; readers use [`Snapshot::with_provisional_ids`]).
    pub fn snapshot_with_ids(&mut self) -> Result<Snapshot, DbError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.snapshot()?;
            // Empty also when no id is left to give: those rows stay out.
            let numbering = Change::assign_ids(&s);
            if numbering.ops.is_empty() {
                return Ok(s);
            }
            self.commit(&s, numbering)?;
        }
        Err(DbError::Io("the database changed on every attempt to number its policies".into()))
    }

    /// Commits `change` computed from `s`, guarded by waits on every row
    /// read. `Ok(false)`: the rows changed meanwhile, nothing was done.
    pub fn commit(&mut self, s: &Snapshot, change: Change) -> Result<bool, DbError> {
        if change.ops.is_empty() {
            return Ok(true);
        }
        let mut ops = s.waits(&self.schema.columns());
        ops.extend(change.ops);
        match self.transact(&ops) {
            Ok(_) => Ok(true),
            Err(TxnError::Conflict) => Ok(false),
            Err(TxnError::Db(e)) => Err(e),
        }
    }

    /// Reads, computes with `f` and commits until the commit holds.
    /// `f`'s refusal (`Err(String)`) is returned as is.
    pub fn change(
        &mut self,
        mut f: impl FnMut(&Snapshot) -> Result<Change, String>,
    ) -> Result<Result<(), String>, DbError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.snapshot_with_ids()?;
            let change = match f(&s) {
                Ok(c) => c,
                Err(refusal) => return Ok(Err(refusal)),
            };
            if self.commit(&s, change)? {
                return Ok(Ok(()));
            }
        }
        Err(DbError::Io(format!("the database changed on each of {MAX_ATTEMPTS} attempts; try again")))
    }

    /// Datapath `name`'s row UUID and capabilities; `None` without a record.
    pub fn datapath_capabilities(&mut self, name: &str) -> Result<Option<CapabilitiesRow>, DbError> {
        let replies = self.transact(&capabilities_selects()).map_err(|e| match e {
            TxnError::Conflict => DbError::Protocol("select: unexpected wait failure".into()),
            TxnError::Db(e) => e,
        })?;
        Ok(capabilities_of(&replies, name))
    }

    /// Sets the keys of `caps` in datapath `name`'s capabilities, when a
    /// value differs; false when there is no such record.
    pub fn set_capabilities(
        &mut self,
        name: &str,
        caps: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, DbError> {
        let Some((dp_uuid, now)) = self.datapath_capabilities(name)? else { return Ok(false) };
        if caps.iter().all(|(k, v)| now.get(k) == Some(v)) {
            return Ok(true);
        }
        self.transact(&Change::set_capabilities(&dp_uuid, caps).ops).map_err(|e| match e {
            TxnError::Conflict => DbError::Protocol("mutate: unexpected wait failure".into()),
            TxnError::Db(e) => e,
        })?;
        Ok(true)
    }

    /// True if another client holds OVSDB lock `name` (ovs-vswitchd holds
    /// `ovs_vswitchd` for as long as it manages the database). The probe
    /// gives the lock back at once.
    pub fn lock_is_held(&mut self, name: &str) -> Result<bool, DbError> {
        let reply = self.conn.request("lock", json!([name]))?;
        let mut held_by_other = reply["locked"] != json!(true);
        // Another zonetp's probe holds the lock for one round trip only;
        // ovs-vswitchd holds it for good. A lock granted within a moment
        // (the server says "locked") was not ovs-vswitchd's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while held_by_other {
            match self.conn.notification(deadline)? {
                Some(n) if n["method"] == "locked" && n["params"][0] == name => held_by_other = false,
                Some(_) => continue,
                None => break,
            }
        }
        // Releases the lock, or withdraws the queued request for it.
        self.conn.request("unlock", json!([name]))?;
        Ok(held_by_other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dialer that fails each remote with the error `fail` gives it.
    fn failing(fail: fn(&Remote) -> DbError) -> Dialer {
        Arc::new(move |r: &Remote| Err(fail(r)))
    }

    #[test]
    fn connecting_fails_for_good_only_if_every_remote_does() {
        let one = vec![Remote::Unix("/a".into())];
        let two = vec![Remote::Unix("/a".into()), Remote::Unix("/b".into())];
        let denied = failing(|r| DbError::Denied(format!("{r}: Permission denied")));
        let mixed = failing(|r| match r {
            Remote::Unix(p) if p.as_os_str() == "/a" => DbError::Denied(format!("{r}: Permission denied")),
            _ => DbError::Io(format!("{r}: Connection refused")),
        });
        let err = |remotes: &[Remote], d: &Dialer| Client::connect_any(remotes, 0, d, 0).err().unwrap();
        assert_eq!(err(&one, &denied), DbError::Denied("unix:/a: Permission denied".into()));
        let e = err(&two, &denied);
        assert!(e.is_permanent(), "{e:?}");
        assert_eq!(e.to_string(), "unix:/a: Permission denied; unix:/b: Permission denied");
        let e = err(&two, &mixed);
        assert!(!e.is_permanent(), "another member may come: {e:?}");
        let refused = failing(|r| DbError::Io(format!("{r}: Connection refused")));
        assert_eq!(err(&one, &refused), DbError::Io("unix:/a: Connection refused".into()));
        assert!(!DbError::Rpc("lock: error".into()).is_permanent());
        assert!(DbError::Protocol("schema".into()).is_permanent());
    }
}
