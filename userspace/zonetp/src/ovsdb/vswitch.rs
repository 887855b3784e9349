//! The part of the `Open_vSwitch` database zone policies live in:
//! `Open_vSwitch.datapaths` (root) -> `Datapath.ct_zones` -> `CT_Zone`
//! -> `CT_Timeout_Policy`. `CT_Zone` and `CT_Timeout_Policy` are not root
//! tables: ovsdb-server deletes a row of theirs as soon as nothing refers
//! to it, so a change that drops the last reference removes the row too.
//!
//! Policy ids: OVS numbers policies inside ovs-vswitchd and stores no
//! number. zonetp keeps its number in the row itself,
//! `CT_Timeout_Policy.external_ids:zonetp-id`, written in the transaction
//! that inserts the row (or by the first zonetp that sees a row another
//! tool inserted). Numbers come from a counter that only grows,
//! `Open_vSwitch.external_ids:zonetp-next-policy-id`, bumped in the same
//! transaction, so an id is never given to a second policy, whichever
//! host still holds kernel objects of the first.

pub use super::datum::ColumnKind;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::datum::{
    map_of, map_pairs, named_ref, optional_uuid, set_elems, set_of, string_map, uuid, uuid_ref,
};
use super::index::Index;
use super::DbError;
use crate::config::{
    check_limit_args, Config, Datapath, DpSettings, LimitZone, PolicyRecord, ResolutionMode, ZoneRecord,
};
use crate::policy::{is_policy_id, TimeoutPolicy, MAX_POLICY_ID, NOT_A_POLICY_ID};

pub const DB: &str = "Open_vSwitch";
/// The row's policy id (decimal).
pub const ID_KEY: &str = "zonetp-id";
/// The next id to hand out; only grows.
pub const NEXT_ID_KEY: &str = "zonetp-next-policy-id";
/// `Datapath.external_ids` key of the datapath's resolution mode
/// (`set-dp DP resolution=...`). OVS has no such setting: ovs-vswitchd
/// always resolves exactly (a zone without a policy gets the kernel's
/// defaults). A row without the key reads as zonetp's default,
/// zone0-fallback, the same as a JSON file without the setting.
pub const RESOLUTION_KEY: &str = "zonetp-resolution";
/// The first schema with the zone timeout policy tables (OVS 2.13).
pub const MIN_SCHEMA: (u32, u32, u32) = (8, 2, 0);

/// What zonetp needs to know of the server's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaInfo {
    pub version: (u32, u32, u32),
    /// `CT_Zone.limit` (schema 8.5.0, OVS 3.3): zones may exist for a limit
    /// alone, and ovs-vsctl words its refusals by the policy.
    pub zone_limit: bool,
    /// `Datapath.ct_zone_default_limit` (schema 8.5.0 too).
    pub default_limit: bool,
    /// How each column zonetp reads holds its value, for applying the
    /// differences `update2`/`update3` notifications carry.
    pub kinds: BTreeMap<(String, String), ColumnKind>,
}

impl SchemaInfo {
    /// Checks a `get_schema` reply for the tables and columns zonetp uses.
    pub fn from_schema(schema: &Value) -> Result<Self, DbError> {
        let version_text = schema["version"].as_str().unwrap_or("");
        let version = parse_version(version_text).ok_or_else(|| {
            DbError::Protocol(format!("database {DB} has an unreadable schema version {version_text:?}"))
        })?;
        if version < MIN_SCHEMA {
            return Err(DbError::Protocol(format!(
                "database {DB} has schema version {version_text}; zone timeout policies need 8.2.0 or later (Open vSwitch 2.13)"
            )));
        }
        let needed: [(&str, &[&str]); 4] = [
            ("Open_vSwitch", &["datapaths", "external_ids", "next_cfg", "cur_cfg"]),
            ("Datapath", &["ct_zones", "external_ids"]),
            ("CT_Zone", &["timeout_policy"]),
            ("CT_Timeout_Policy", &["timeouts", "external_ids"]),
        ];
        for (table, columns) in needed {
            for column in columns {
                if schema["tables"][table]["columns"].get(*column).is_none() {
                    return Err(DbError::Protocol(format!(
                        "database {DB} (schema {version_text}) has no column {table}.{column}"
                    )));
                }
            }
        }
        let zone_limit = schema["tables"]["CT_Zone"]["columns"].get("limit").is_some();
        let default_limit = schema["tables"]["Datapath"]["columns"].get("ct_zone_default_limit").is_some();
        let mut kinds = BTreeMap::new();
        for (table, columns) in Self::columns_for(zone_limit, default_limit) {
            for column in columns {
                let kind = ColumnKind::of(&schema["tables"][table]["columns"][column]["type"]);
                kinds.insert((table.to_owned(), column.to_owned()), kind);
            }
        }
        Ok(Self { version, zone_limit, default_limit, kinds })
    }

    /// Whether the database holds zone limits: both columns of schema
    /// 8.5.0 (OVS 3.3), where ovs-vsctl has the zone limit verbs.
    pub fn has_zone_limits(&self) -> bool {
        self.zone_limit && self.default_limit
    }

    /// The columns zonetp reads, by table.
    pub fn columns(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        Self::columns_for(self.zone_limit, self.default_limit)
    }

    fn columns_for(zone_limit: bool, default_limit: bool) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut zone = vec!["timeout_policy"];
        if zone_limit {
            zone.push("limit");
        }
        let mut datapath = vec!["ct_zones", "external_ids"];
        if default_limit {
            datapath.push("ct_zone_default_limit");
        }
        vec![
            ("Open_vSwitch", vec!["datapaths", "external_ids", "next_cfg", "cur_cfg"]),
            ("Datapath", datapath),
            ("CT_Zone", zone),
            ("CT_Timeout_Policy", vec!["timeouts", "external_ids"]),
        ]
    }
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

/// A column of a row; one left out (at its default) reads as null,
/// which the readers take as empty.
fn col<'a>(row: &'a Map<String, Value>, column: &str) -> &'a Value {
    row.get(column).unwrap_or(&Value::Null)
}

/// Rows by table, then by UUID; each row holds the columns zonetp reads.
pub type Tables = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsRow {
    pub uuid: String,
    pub datapaths: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    pub next_cfg: i64,
    pub cur_cfg: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatapathRow {
    pub ct_zones: BTreeMap<u16, String>,
    pub external_ids: BTreeMap<String, String>,
    pub default_limit: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneRow {
    pub timeout_policy: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRow {
    pub timeouts: BTreeMap<String, u32>,
    pub external_ids: BTreeMap<String, String>,
}

/// The policy row zone row `zone` uses.
fn zone_policy(zones: &BTreeMap<String, ZoneRow>, zone: &str) -> Option<String> {
    zones.get(zone)?.timeout_policy.clone()
}

fn ovs_row(u: &str, r: &Map<String, Value>) -> OvsRow {
    OvsRow {
        uuid: u.to_owned(),
        datapaths: map_pairs(col(r, "datapaths"))
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), uuid(v)?.to_owned())))
            .collect(),
        external_ids: string_map(col(r, "external_ids")),
        next_cfg: col(r, "next_cfg").as_i64().unwrap_or(0),
        cur_cfg: col(r, "cur_cfg").as_i64().unwrap_or(0),
    }
}

fn datapath_row(r: &Map<String, Value>) -> DatapathRow {
    let ct_zones = map_pairs(col(r, "ct_zones"))
        .into_iter()
        .filter_map(|(k, v)| Some((u16::try_from(k.as_i64()?).ok()?, uuid(v)?.to_owned())))
        .collect();
    let default_limit = optional_u32(col(r, "ct_zone_default_limit"));
    DatapathRow { ct_zones, external_ids: string_map(col(r, "external_ids")), default_limit }
}

/// An optional integer column (`limit`: `10`, or `["set", []]` for none).
fn optional_u32(v: &Value) -> Option<u32> {
    set_elems(v).first().and_then(|l| l.as_i64()).and_then(|l| u32::try_from(l).ok())
}

fn zone_row(r: &Map<String, Value>) -> ZoneRow {
    ZoneRow { timeout_policy: optional_uuid(col(r, "timeout_policy")), limit: optional_u32(col(r, "limit")) }
}

fn policy_row(r: &Map<String, Value>) -> PolicyRow {
    let timeouts = map_pairs(col(r, "timeouts"))
        .into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), u32::try_from(v.as_i64()?).ok()?)))
        .collect();
    PolicyRow { timeouts, external_ids: string_map(col(r, "external_ids")) }
}

/// A consistent view of the zone tables.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub ovs: Option<OvsRow>,
    pub datapaths: BTreeMap<String, DatapathRow>,
    pub zones: BTreeMap<String, ZoneRow>,
    pub policies: BTreeMap<String, PolicyRow>,
    /// The rows as read, for `wait` operations that make a change depend
    /// on what it was computed from.
    pub tables: Tables,
    /// Ids a new policy must not get although no row has them: those of
    /// `ovs_tp_<id>_*` objects in the kernel (set by the caller that read
    /// the kernel). A recreated database or a removed counter would
    /// otherwise hand out an id whose objects a live rule still holds,
    /// and sync would replace them under it.
    pub reserved_ids: BTreeSet<u32>,
    /// Who uses which policy row, the rows changed, the ids claimed: kept
    /// with the rows by [`Snapshot::from_tables`] and
    /// [`Snapshot::refresh_row`].
    pub index: Index,
}

impl Snapshot {
    pub fn from_tables(tables: Tables) -> Self {
        let empty = BTreeMap::new();
        let rows = |t: &str| tables.get(t).unwrap_or(&empty);
        let ovs = rows("Open_vSwitch").iter().next().map(|(u, r)| ovs_row(u, r));
        let datapaths: BTreeMap<String, DatapathRow> =
            rows("Datapath").iter().map(|(u, r)| (u.clone(), datapath_row(r))).collect();
        let zones = rows("CT_Zone").iter().map(|(u, r)| (u.clone(), zone_row(r))).collect();
        let policies: BTreeMap<String, PolicyRow> =
            rows("CT_Timeout_Policy").iter().map(|(u, r)| (u.clone(), policy_row(r))).collect();
        let mut index = Index::default();
        for (u, p) in &policies {
            index.policy_changed(u, None, Some(p));
        }
        for (u, d) in &datapaths {
            index.datapath_changed(u, None, Some(d), |z| zone_policy(&zones, z));
        }
        Self { ovs, datapaths, zones, policies, tables, reserved_ids: BTreeSet::new(), index }
    }

    /// Reads row `uuid` of `table` again from [`Snapshot::tables`], after a
    /// change to it there (gone from there: gone here). The agent's
    /// follower keeps its snapshot so, row by row, rather than reading
    /// every row on each change.
    pub fn refresh_row(&mut self, table: &str, uuid: &str) {
        let row = self.tables.get(table).and_then(|rows| rows.get(uuid));
        match table {
            "Open_vSwitch" => {
                let ovs =
                    self.tables.get(table).and_then(|rows| rows.iter().next()).map(|(u, r)| ovs_row(u, r));
                if ovs.as_ref().map(|o| &o.datapaths) != self.ovs.as_ref().map(|o| &o.datapaths) {
                    self.index.datapaths_changed();
                }
                self.ovs = ovs;
            }
            "Datapath" => {
                let new = row.map(datapath_row);
                let zones = &self.zones;
                let old = self.datapaths.get(uuid);
                self.index.datapath_changed(uuid, old, new.as_ref(), |z| zone_policy(zones, z));
                match new {
                    Some(r) => drop(self.datapaths.insert(uuid.to_owned(), r)),
                    None => drop(self.datapaths.remove(uuid)),
                }
            }
            "CT_Zone" => {
                let new = row.map(zone_row);
                let old = self.zones.get(uuid).and_then(|z| z.timeout_policy.as_deref());
                let policy = new.as_ref().and_then(|z| z.timeout_policy.as_deref());
                self.index.zone_changed(uuid, old, policy);
                match new {
                    Some(r) => drop(self.zones.insert(uuid.to_owned(), r)),
                    None => drop(self.zones.remove(uuid)),
                }
            }
            "CT_Timeout_Policy" => {
                let new = row.map(policy_row);
                self.index.policy_changed(uuid, self.policies.get(uuid), new.as_ref());
                match new {
                    Some(r) => drop(self.policies.insert(uuid.to_owned(), r)),
                    None => drop(self.policies.remove(uuid)),
                }
            }
            _ => {}
        }
    }

    /// Applies the difference an `update2` "modify" carries for datapath
    /// row `dp`'s `ct_zones` (a pair the map holds with that value goes,
    /// any other is set) to the row as read, without reading the column
    /// again: one zone added to a datapath of 65,536 costs one zone. The
    /// row must be read already ([`Snapshot::refresh_row`] otherwise).
    pub fn apply_ct_zones_diff(&mut self, dp: &str, diff: &Value) {
        let Some(row) = self.datapaths.get_mut(dp) else { return };
        let zones = &self.zones;
        for (k, v) in map_pairs(diff) {
            let (Some(zone), Some(new)) = (k.as_i64().and_then(|k| u16::try_from(k).ok()), uuid(v)) else {
                continue;
            };
            let old = row.ct_zones.get(&zone).cloned();
            let now = if old.as_deref() == Some(new) {
                row.ct_zones.remove(&zone);
                None
            } else {
                row.ct_zones.insert(zone, new.to_owned());
                Some(new)
            };
            self.index.zone_ref_changed(dp, old.as_deref(), now, |z| zone_policy(zones, z));
        }
    }

    /// Builds the snapshot from the replies of one `select` per table.
    pub fn from_selects(columns: &[(&str, Vec<&str>)], replies: &[Value]) -> Result<Self, DbError> {
        let mut tables = Tables::new();
        for ((table, _), reply) in columns.iter().zip(replies) {
            let rows = reply["rows"]
                .as_array()
                .ok_or_else(|| DbError::Protocol(format!("select on {table}: no rows in the reply")))?;
            let by_uuid = tables.entry((*table).to_owned()).or_default();
            for row in rows {
                let Some(obj) = row.as_object() else { continue };
                let Some(u) = obj.get("_uuid").and_then(uuid) else { continue };
                let mut r = obj.clone();
                r.remove("_uuid");
                by_uuid.insert(u.to_owned(), r);
            }
        }
        Ok(Self::from_tables(tables))
    }

    /// The policy id of each policy row that has a valid one of its own
    /// (an id two rows claim stays with the first row by UUID).
    pub fn policy_ids(&self) -> BTreeMap<String, u32> {
        let mut taken = BTreeSet::new();
        let mut out = BTreeMap::new();
        for (u, p) in &self.policies {
            let id = p.external_ids.get(ID_KEY).and_then(|v| v.parse::<u32>().ok());
            if let Some(id) = id.filter(|id| is_policy_id(*id)) {
                if taken.insert(id) {
                    out.insert(u.clone(), id);
                }
            }
        }
        out
    }

    /// Refuses a snapshot in which two policy rows claim one id (a row
    /// copied with its external_ids): the kernel objects of that id would
    /// follow whichever row sorts first by UUID, perhaps the copy, and the
    /// other row would be numbered anew. Which is the policy's own only a
    /// person can tell. Refuses, as the file does, a row whose id is no
    /// policy id (not a number in 1..=MAX_POLICY_ID): zonetp never writes
    /// one, so someone else did, and the row would otherwise be numbered
    /// anew without a word.
    pub fn check_ids(&self) -> Result<(), String> {
        if self.index.ids_are_sound() {
            return Ok(());
        }
        let mut claims: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for (u, p) in &self.policies {
            let Some(value) = p.external_ids.get(ID_KEY) else { continue };
            match value.parse::<u32>() {
                Ok(id) if is_policy_id(id) => claims.entry(id).or_default().push(u),
                _ => {
                    return Err(format!(
                        "CT_Timeout_Policy row {u}: external_ids:{ID_KEY}={value:?} {NOT_A_POLICY_ID}; \
                         remove it (ovs-vsctl remove CT_Timeout_Policy {u} external_ids {ID_KEY}) \
                         and zonetp numbers the row anew"
                    ))
                }
            }
        }
        match claims.into_iter().find(|(_, rows)| rows.len() > 1) {
            None => Ok(()),
            Some((id, rows)) => Err(format!(
                "policy id {id} is claimed by {} CT_Timeout_Policy rows ({}), a copied row perhaps; \
                 remove external_ids:{ID_KEY} from every row but the policy's own \
                 (ovs-vsctl remove CT_Timeout_Policy UUID external_ids {ID_KEY}) and zonetp numbers it anew",
                rows.len(),
                rows.join(", ")
            )),
        }
    }

    /// Policy rows without an id (inserted by ovs-vsctl or another tool).
    pub fn rows_without_id(&self) -> Vec<String> {
        if self.index.ids_are_sound() {
            return self.index.unnumbered().iter().cloned().collect();
        }
        let ids = self.policy_ids();
        self.policies.keys().filter(|u| !ids.contains_key(*u)).cloned().collect()
    }

    /// The next id to hand out: the counter, but never below an id in use
    /// by a row or reserved (kernel objects present).
    pub fn next_policy_id(&self) -> u32 {
        let counter = self
            .ovs
            .as_ref()
            .and_then(|o| o.external_ids.get(NEXT_ID_KEY))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1);
        let above_used = self.index.highest_id().map_or(1, |m| m.saturating_add(1));
        // (An id no policy can have, from another tool's object, is none
        // to keep: u32::MAX would leave no id to give.)
        let above_reserved = self.reserved_ids.range(1..=MAX_POLICY_ID).next_back().map_or(1, |m| m + 1);
        counter.max(above_used).max(above_reserved).max(1)
    }

    /// The ids [`Change::assign_ids`] would give the rows without one, by
    /// row UUID; none past MAX_POLICY_ID (a row left without stays out of
    /// the configuration rather than take an id OVS cannot have).
    pub fn ids_to_assign(&self) -> Vec<(String, u32)> {
        let mut next = self.next_policy_id();
        self.rows_without_id()
            .into_iter()
            .map(|u| {
                let id = next;
                next = next.saturating_add(1);
                (u, id)
            })
            .filter(|(_, id)| *id <= MAX_POLICY_ID)
            .collect()
    }

    /// This snapshot with the rows without an id numbered in memory only,
    /// as [`Change::assign_ids`] would number them: what reading verbs
    /// show. A read must not need write access (a read-only remote
    /// refuses any transaction that writes); the ids become the rows' own
    /// when a writing verb (a change, or sync) numbers them, which gives
    /// the same ids unless the database changed in between.
    pub fn with_provisional_ids(&self) -> Snapshot {
        let mut s = self.clone();
        for (u, id) in self.ids_to_assign() {
            if let Some(row) = s.policies.get_mut(&u) {
                let old = row.clone();
                row.external_ids.insert(ID_KEY.to_owned(), id.to_string());
                s.index.policy_changed(&u, Some(&old), Some(row));
            }
        }
        s
    }

    /// The configuration as zonetp's model holds it. Policies without an id
    /// are left out; [`Snapshot::rows_without_id`] names them.
    pub fn to_config(&self) -> Config {
        let ids = self.policy_ids();
        let mut config = self.datapath_records();
        for (u, id) in &ids {
            let timeouts = TimeoutPolicy(self.policies[u].timeouts.clone());
            let external_ids = self.policies[u].external_ids.clone();
            config.timeout_policies.insert(*id, PolicyRecord { timeouts, external_ids });
        }
        let Some(ovs) = &self.ovs else { return config };
        for (name, dp_uuid) in &ovs.datapaths {
            let (Some(row), Some(dp)) = (self.datapaths.get(dp_uuid), config.datapaths.get_mut(name)) else {
                continue;
            };
            for (zone, zone_uuid) in &row.ct_zones {
                let row = self.zones.get(zone_uuid);
                let policy = row.and_then(|z| z.timeout_policy.as_ref());
                let timeout_policy = policy.and_then(|p| ids.get(p)).copied();
                let limit = row.and_then(|z| z.limit);
                dp.ct_zones
                    .insert(*zone, ZoneRecord { timeout_policy, limit, external_ids: Default::default() });
            }
        }
        config
    }

    /// Datapath `name`'s conntrack zone limits, read from the rows (the
    /// agent's passes: no configuration is built for them).
    pub fn limits_of(&self, name: &str) -> crate::zone_limits::Limits {
        let Some((_, row)) = self.datapath(name) else { return Default::default() };
        let zones = row.ct_zones.iter().filter_map(|(z, u)| Some((*z, self.zones.get(u)?.limit?))).collect();
        crate::zone_limits::Limits::new(row.default_limit, zones)
    }

    /// The configuration's datapath records with their settings but no
    /// zones and no policies: what a sync checks before it runs
    /// ([`crate::reconcile::check_config`]), without reading a zone.
    pub fn datapath_records(&self) -> Config {
        let mut config = Config::default();
        let Some(ovs) = &self.ovs else { return config };
        for (name, dp_uuid) in &ovs.datapaths {
            let mut dp = Datapath::default();
            // An unreadable value makes this datapath, and only it,
            // unusable: its verbs name it, the others work.
            let row = self.datapaths.get(dp_uuid);
            dp.ct_zone_default_limit = row.and_then(|r| r.default_limit);
            match row.and_then(|r| r.external_ids.get(RESOLUTION_KEY)).map(|v| ResolutionMode::parse(v)) {
                Some(Ok(mode)) => dp.resolution = mode,
                Some(Err(e)) => {
                    config
                        .unusable_datapaths
                        .insert(name.clone(), format!("datapath {name}: external_ids:{RESOLUTION_KEY}: {e}"));
                }
                None => {}
            }
            config.datapaths.insert(name.clone(), dp);
        }
        config
    }

    /// Datapaths whose `external_ids:zonetp-resolution` is no mode, in
    /// words; `to_config` reads them as the default.
    pub fn resolution_errors(&self) -> Vec<String> {
        let Some(ovs) = &self.ovs else { return Vec::new() };
        ovs.datapaths
            .iter()
            .filter_map(|(name, u)| {
                let v = self.datapaths.get(u)?.external_ids.get(RESOLUTION_KEY)?;
                let e = ResolutionMode::parse(v).err()?;
                Some(format!("datapath {name}: external_ids:{RESOLUTION_KEY}: {e}"))
            })
            .collect()
    }

    fn datapath(&self, name: &str) -> Option<(&String, &DatapathRow)> {
        let dp_uuid = self.ovs.as_ref()?.datapaths.get(name)?;
        Some((dp_uuid, self.datapaths.get(dp_uuid)?))
    }

    /// `wait` operations that fail the transaction if any row it was
    /// computed from changed meanwhile (ovs-vsctl's "verify").
    pub fn waits(&self, columns: &[(&str, Vec<&str>)]) -> Vec<Value> {
        columns
            .iter()
            .map(|(table, cols)| {
                let rows: Vec<Value> = self
                    .tables
                    .get(*table)
                    .map(|rows| {
                        rows.iter()
                            .map(|(u, r)| {
                                let mut o = Map::new();
                                o.insert("_uuid".into(), uuid_ref(u));
                                for c in cols {
                                    if let Some(v) = r.get(*c) {
                                        o.insert((*c).to_owned(), v.clone());
                                    }
                                }
                                Value::Object(o)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut all_columns = vec!["_uuid"];
                all_columns.extend(cols.iter().copied());
                json!({"op": "wait", "timeout": 0, "table": table, "where": [],
                       "columns": all_columns, "until": "==", "rows": rows})
            })
            .collect()
    }
}

/// The two selects `list-dp-cap` reads a datapath's capabilities with:
/// the root row's `datapaths` and every `Datapath` row's `capabilities`.
/// The column is read on its own, not with the zone tables: the agent
/// does not follow it (ovs-vswitchd, or zonetp's own sync, writes it).
pub fn capabilities_selects() -> Vec<Value> {
    vec![
        json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["datapaths"]}),
        json!({"op": "select", "table": "Datapath", "where": [], "columns": ["_uuid", "capabilities"]}),
    ]
}

/// A datapath row's UUID and its `capabilities`.
pub type CapabilitiesRow = (String, BTreeMap<String, String>);

/// Datapath `name`'s row UUID and capabilities out of the replies to
/// [`capabilities_selects`]; `None` when there is no such record.
pub fn capabilities_of(replies: &[Value], name: &str) -> Option<CapabilitiesRow> {
    let root = replies.first()?["rows"].as_array()?.first()?;
    let dp_uuid = map_pairs(col(root.as_object()?, "datapaths"))
        .into_iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .and_then(|(_, v)| uuid(v))?
        .to_owned();
    let row =
        replies.get(1)?["rows"].as_array()?.iter().find(|r| uuid(&r["_uuid"]) == Some(dp_uuid.as_str()))?;
    let caps = string_map(col(row.as_object()?, "capabilities"));
    Some((dp_uuid, caps))
}

/// The operations of one change, after the waits.
#[derive(Default)]
pub struct Change {
    pub ops: Vec<Value>,
}

fn where_uuid(u: &str) -> Value {
    json!([["_uuid", "==", uuid_ref(u)]])
}

fn set_key(column: &str, key: &str, value: String) -> Vec<Value> {
    vec![json!([column, "delete", set_of([key])]), json!([column, "insert", map_of([(key, value)])])]
}

/// Refusals in the words of the ovs-vsctl that goes with the schema: OVS
/// 3.3 (schema 8.5.0, with `CT_Zone.limit`) reworded them.
pub struct Wording {
    pub zone_limit: bool,
}

impl Change {
    /// `add-dp`: a `Datapath` row under `Open_vSwitch.datapaths:NAME`
    /// (ovs-vsctl has no such verb; its documented way is `create
    /// Datapath` plus `set Open_vSwitch . datapaths:NAME=@dp`).
    pub fn add_dp(s: &Snapshot, name: &str, may_exist: bool) -> Result<Self, String> {
        if s.datapath(name).is_some() {
            return if may_exist {
                Ok(Self::default())
            } else {
                Err(format!("datapath {name} already exists"))
            };
        }
        // Checked only for a new row, as the file does.
        crate::config::check_datapath_name(name).map_err(|e| e.to_string())?;
        let mut c = Self::default();
        c.ops.push(json!({"op": "insert", "table": "Datapath", "row": {}, "uuid-name": "dp"}));
        let entry = map_of([(name, named_ref("dp"))]);
        match &s.ovs {
            Some(ovs) => {
                c.ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": where_uuid(&ovs.uuid),
                "mutations": [["datapaths", "delete", set_of([name])], ["datapaths", "insert", entry]]}))
            }
            // ovs-vsctl makes the Open_vSwitch row when there is none.
            None => c.ops.push(json!({"op": "insert", "table": "Open_vSwitch", "row": {"datapaths": entry}})),
        }
        Ok(c)
    }

    /// `set-dp DP resolution=MODE`: the mode goes into the `Datapath`
    /// row's `external_ids:zonetp-resolution` (written even for the
    /// default, so the row says what zonetp does).
    pub fn set_dp(s: &Snapshot, name: &str, settings: DpSettings) -> Result<Self, String> {
        let (dp_uuid, _) = s.datapath(name).ok_or_else(|| format!("datapath {name} does not exist"))?;
        let mut c = Self::default();
        if let Some(mode) = settings.resolution {
            c.ops.push(json!({"op": "mutate", "table": "Datapath", "where": where_uuid(dp_uuid),
                "mutations": set_key("external_ids", RESOLUTION_KEY, mode.name().to_owned())}));
        }
        Ok(c)
    }

    /// `del-dp`: drops `Open_vSwitch.datapaths:NAME`; ovs-vsctl's garbage
    /// collection takes the Datapath, its zones and the policies only
    /// they used.
    pub fn del_dp(s: &Snapshot, name: &str, if_exists: bool) -> Result<Self, String> {
        let (Some(ovs), Some(_)) = (&s.ovs, s.datapath(name)) else {
            return if if_exists {
                Ok(Self::default())
            } else {
                Err(format!("datapath {name} does not exist"))
            };
        };
        let mut c = Self::default();
        c.ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": where_uuid(&ovs.uuid),
            "mutations": [["datapaths", "delete", set_of([name])]]}));
        Ok(c)
    }

    /// `add-zone-tp` as ovs-vsctl does it: reuse a row with identical
    /// timeouts, else insert one; point the zone (new or existing) at it.
    /// Unlike ovs-vsctl, `--may-exist` on a policy no other zone uses
    /// changes that row in place, so its id and kernel objects stay.
    pub fn add_zone_tp(
        s: &Snapshot,
        w: &Wording,
        dp: &str,
        zone: u16,
        policy: &TimeoutPolicy,
        may_exist: bool,
    ) -> Result<Self, String> {
        let (dp_uuid, dp_row) = s.datapath(dp).ok_or_else(|| format!("datapath {dp} does not exist"))?;
        let zone_uuid = dp_row.ct_zones.get(&zone);
        let current = zone_uuid.and_then(|z| s.zones.get(z)).and_then(|z| z.timeout_policy.clone());
        if !may_exist {
            if w.zone_limit && current.is_some() {
                return Err(format!("zone id {zone} already has a policy"));
            }
            if !w.zone_limit && zone_uuid.is_some() {
                return Err(format!("zone id {zone} already exists"));
            }
        }
        let mut c = Self::default();
        let ovs = s.ovs.as_ref().expect("a datapath hangs off the Open_vSwitch row");
        let identical = s.policies.iter().find(|(_, p)| p.timeouts == policy.0).map(|(u, _)| u.clone());
        let users = |p: &str| s.zones.values().filter(|z| z.timeout_policy.as_deref() == Some(p)).count();
        let policy_ref = match (identical, current) {
            (Some(u), _) => uuid_ref(&u),
            (None, Some(cur)) if users(&cur) == 1 => {
                c.ops.push(json!({"op": "update", "table": "CT_Timeout_Policy", "where": where_uuid(&cur),
                    "row": {"timeouts": map_of(policy.0.iter().map(|(k, v)| (k.clone(), *v)))}}));
                uuid_ref(&cur)
            }
            _ => {
                let id = s.next_policy_id();
                if id > MAX_POLICY_ID {
                    return Err("no free timeout policy id is left".into());
                }
                c.ops.push(json!({"op": "insert", "table": "CT_Timeout_Policy", "uuid-name": "tp", "row": {
                    "timeouts": map_of(policy.0.iter().map(|(k, v)| (k.clone(), *v))),
                    "external_ids": map_of([(ID_KEY, id.to_string())])}}));
                c.ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": where_uuid(&ovs.uuid),
                    "mutations": set_key("external_ids", NEXT_ID_KEY, (id + 1).to_string())}));
                named_ref("tp")
            }
        };
        match zone_uuid {
            Some(z) => c.ops.push(json!({"op": "update", "table": "CT_Zone", "where": where_uuid(z),
                "row": {"timeout_policy": policy_ref}})),
            None => {
                c.ops.push(json!({"op": "insert", "table": "CT_Zone", "uuid-name": "zone",
                    "row": {"timeout_policy": policy_ref}}));
                c.ops.push(json!({"op": "mutate", "table": "Datapath", "where": where_uuid(dp_uuid),
                    "mutations": [["ct_zones", "insert", map_of([(zone, named_ref("zone"))])]]}));
            }
        }
        Ok(c)
    }

    /// `del-zone-tp`: drops the zone from its datapath (a zone that also
    /// has a limit keeps its row and loses only the policy). The policy
    /// row goes with its last reference.
    pub fn del_zone_tp(
        s: &Snapshot,
        w: &Wording,
        dp: &str,
        zone: u16,
        if_exists: bool,
    ) -> Result<Self, String> {
        let (dp_uuid, dp_row) = s.datapath(dp).ok_or_else(|| format!("datapath {dp} does not exist"))?;
        let zone_uuid = dp_row.ct_zones.get(&zone);
        let zone_row = zone_uuid.and_then(|z| s.zones.get(z));
        if !if_exists {
            if w.zone_limit && zone_row.and_then(|z| z.timeout_policy.as_ref()).is_none() {
                return Err(format!("zone id {zone} does not have a policy"));
            }
            if !w.zone_limit && zone_uuid.is_none() {
                return Err(format!("zone id {zone} does not exist"));
            }
        }
        let mut c = Self::default();
        match (zone_uuid, zone_row) {
            (Some(z), Some(row)) if row.limit.is_some() => {
                c.ops.push(json!({"op": "update", "table": "CT_Zone", "where": where_uuid(z),
                    "row": {"timeout_policy": set_of(Vec::<Value>::new())}}))
            }
            (Some(_), _) => {
                c.ops.push(json!({"op": "mutate", "table": "Datapath", "where": where_uuid(dp_uuid),
                "mutations": [["ct_zones", "delete", set_of([zone])]]}))
            }
            (None, _) => {}
        }
        Ok(c)
    }

    /// `set-zone-limit`, in ovs-vsctl 3.5's words and order: the
    /// datapath, the limit's range, the zone's. The default limit is the
    /// `Datapath` row's; a zone without a row gets one for the limit.
    pub fn set_zone_limit(s: &Snapshot, dp: &str, zone: LimitZone, limit: i64) -> Result<Self, String> {
        let (dp_uuid, dp_row) = s.datapath(dp).ok_or_else(|| format!("datapath {dp} does not exist"))?;
        let (zone, limit) = check_limit_args(zone, limit).map_err(|e| e.to_string())?;
        let mut c = Self::default();
        match (zone, zone.and_then(|z| dp_row.ct_zones.get(&z))) {
            (None, _) => {
                c.ops.push(json!({"op": "update", "table": "Datapath", "where": where_uuid(dp_uuid),
                "row": {"ct_zone_default_limit": limit}}))
            }
            (Some(_), Some(z)) => {
                c.ops.push(json!({"op": "update", "table": "CT_Zone", "where": where_uuid(z),
                "row": {"limit": limit}}))
            }
            (Some(zone), None) => {
                c.ops.push(
                    json!({"op": "insert", "table": "CT_Zone", "uuid-name": "zone", "row": {"limit": limit}}),
                );
                c.ops.push(json!({"op": "mutate", "table": "Datapath", "where": where_uuid(dp_uuid),
                    "mutations": [["ct_zones", "insert", map_of([(zone, named_ref("zone"))])]]}));
            }
        }
        Ok(c)
    }

    /// `del-zone-limit`: a zone with a policy keeps its row and loses the
    /// limit; one without leaves its datapath (and ovsdb-server collects
    /// the row).
    pub fn del_zone_limit(s: &Snapshot, dp: &str, zone: LimitZone, if_exists: bool) -> Result<Self, String> {
        let (dp_uuid, dp_row) = s.datapath(dp).ok_or_else(|| format!("datapath {dp} does not exist"))?;
        let none = set_of(Vec::<Value>::new());
        let mut c = Self::default();
        let zone = match zone {
            LimitZone::Default => {
                if dp_row.default_limit.is_none() && !if_exists {
                    return Err(format!("datapath {dp} does not have a limit"));
                }
                if dp_row.default_limit.is_some() {
                    c.ops.push(json!({"op": "update", "table": "Datapath", "where": where_uuid(dp_uuid),
                        "row": {"ct_zone_default_limit": none}}));
                }
                return Ok(c);
            }
            LimitZone::Zone(z) => z,
        };
        let key = u16::try_from(zone).ok();
        let zone_uuid = key.and_then(|k| dp_row.ct_zones.get(&k));
        let row = zone_uuid.and_then(|z| s.zones.get(z));
        if row.and_then(|r| r.limit).is_none() && !if_exists {
            return Err(format!("zone_id {zone} does not have a limit"));
        }
        match (key, zone_uuid, row) {
            (_, Some(z), Some(r)) if r.timeout_policy.is_some() && r.limit.is_some() => {
                c.ops.push(json!({"op": "update", "table": "CT_Zone", "where": where_uuid(z),
                    "row": {"limit": none}}))
            }
            // A policy and no limit: nothing to take.
            (_, Some(_), Some(r)) if r.timeout_policy.is_some() => {}
            (Some(key), Some(_), _) => c.ops.push(json!({"op": "mutate", "table": "Datapath",
                "where": where_uuid(dp_uuid), "mutations": [["ct_zones", "delete", set_of([key])]]})),
            _ => {}
        }
        Ok(c)
    }

    /// Gives every policy row without an id one from the counter.
    pub fn assign_ids(s: &Snapshot) -> Self {
        let mut c = Self::default();
        let Some(ovs) = &s.ovs else { return c };
        let ids = s.ids_to_assign();
        if ids.is_empty() {
            return c;
        }
        let mut next = s.next_policy_id();
        for (u, id) in ids {
            c.ops.push(json!({"op": "mutate", "table": "CT_Timeout_Policy", "where": where_uuid(&u),
                "mutations": set_key("external_ids", ID_KEY, id.to_string())}));
            next = id.saturating_add(1);
        }
        c.ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": where_uuid(&ovs.uuid),
            "mutations": set_key("external_ids", NEXT_ID_KEY, next.to_string())}));
        c
    }

    /// [`Change::assign_ids`] guarded by waits on only what numbering reads:
    /// the counter (`Open_vSwitch.external_ids`) and the `external_ids` of
    /// the rows numbered. Every zonetp that numbers bumps the counter in
    /// the same transaction, so two cannot give one id; a row numbered,
    /// or deleted, meanwhile fails the wait too. The agent numbers so: a
    /// wait on every row, as verbs commit, would send the whole zone
    /// tables (tens of megabytes at 65,536 zones) to number one row.
    /// Empty when there is nothing to number.
    pub fn assign_ids_guarded(s: &Snapshot) -> Self {
        let numbering = Self::assign_ids(s);
        let Some(ovs) = s.ovs.as_ref().filter(|_| !numbering.ops.is_empty()) else { return numbering };
        let external_ids = |table: &str, u: &str| {
            let row = s.tables.get(table).and_then(|rows| rows.get(u));
            let value =
                row.and_then(|r| r.get("external_ids")).cloned().unwrap_or_else(|| json!(["map", []]));
            json!({"op": "wait", "timeout": 0, "table": table, "where": where_uuid(u),
                   "columns": ["external_ids"], "until": "==", "rows": [{"external_ids": value}]})
        };
        let mut ops = vec![external_ids("Open_vSwitch", &ovs.uuid)];
        ops.extend(s.ids_to_assign().iter().map(|(u, _)| external_ids("CT_Timeout_Policy", u)));
        ops.extend(numbering.ops);
        Self { ops }
    }

    /// Sets the keys of `caps` in datapath row `dp_uuid`'s `capabilities`
    /// (other keys stay). No wait: the values are the kernel's, whatever
    /// the rows say meanwhile.
    pub fn set_capabilities(dp_uuid: &str, caps: &BTreeMap<String, String>) -> Self {
        if caps.is_empty() {
            return Self::default();
        }
        let keys: Vec<&str> = caps.keys().map(String::as_str).collect();
        let pairs = caps.iter().map(|(k, v)| (k.clone(), v.clone()));
        Self {
            ops: vec![json!({"op": "mutate", "table": "Datapath", "where": where_uuid(dp_uuid),
                "mutations": [["capabilities", "delete", set_of(keys)], ["capabilities", "insert", map_of(pairs)]]})],
        }
    }

    /// Reports configuration `cfg` as applied (`cur_cfg`), never moving it
    /// backwards: ovs-vsctl without `--no-wait` waits for this.
    pub fn report_applied(ovs_uuid: &str, cfg: i64) -> Self {
        Self {
            ops: vec![json!({"op": "update", "table": "Open_vSwitch",
                "where": [["_uuid", "==", uuid_ref(ovs_uuid)], ["cur_cfg", "<", cfg]],
                "row": {"cur_cfg": cfg}})],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let tables: Tables = serde_json::from_value(json!({
            "Open_vSwitch": {"o": {"datapaths": ["map", [["system", ["uuid", "d"]]]],
                "external_ids": ["map", [[NEXT_ID_KEY, "3"]]], "next_cfg": 4, "cur_cfg": 2}},
            "Datapath": {"d": {"ct_zones": ["map", [[5, ["uuid", "z5"]], [6, ["uuid", "z6"]]]]}},
            "CT_Zone": {"z5": {"timeout_policy": ["uuid", "p1"]}, "z6": {"timeout_policy": ["uuid", "p2"]}},
            "CT_Timeout_Policy": {
                "p1": {"timeouts": ["map", [["udp_single", 10]]], "external_ids": ["map", [[ID_KEY, "2"]]]},
                "p2": {"timeouts": ["map", [["icmp_first", 1]]], "external_ids": ["map", []]}}
        }))
        .unwrap();
        Snapshot::from_tables(tables)
    }

    #[test]
    fn rows_become_the_config_with_ids_from_external_ids() {
        let s = snapshot();
        assert_eq!(s.rows_without_id(), vec!["p2"]);
        assert_eq!(s.next_policy_id(), 3);
        let c = s.to_config();
        assert_eq!(c.datapaths["system"].ct_zones[&5].timeout_policy, Some(2));
        assert_eq!(c.datapaths["system"].ct_zones[&6].timeout_policy, None, "no id yet");
        let ops = Change::assign_ids(&s).ops;
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["mutations"][1], json!(["external_ids", "insert", ["map", [[ID_KEY, "3"]]]]));
        assert_eq!(ops[1]["mutations"][1], json!(["external_ids", "insert", ["map", [[NEXT_ID_KEY, "4"]]]]));
    }

    #[test]
    fn the_agent_s_numbering_waits_on_the_counter_and_the_rows_it_numbers_only() {
        let s = snapshot();
        let ops = Change::assign_ids_guarded(&s).ops;
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert_eq!(ops[0]["op"], "wait");
        assert_eq!(ops[0]["table"], "Open_vSwitch");
        assert_eq!(ops[0]["where"], json!([["_uuid", "==", ["uuid", "o"]]]));
        assert_eq!(ops[0]["rows"], json!([{"external_ids": ["map", [[NEXT_ID_KEY, "3"]]]}]));
        assert_eq!(ops[1]["table"], "CT_Timeout_Policy");
        assert_eq!(ops[1]["where"], json!([["_uuid", "==", ["uuid", "p2"]]]));
        assert_eq!(ops[1]["rows"], json!([{"external_ids": ["map", []]}]));
        assert_eq!(&ops[2..], &Change::assign_ids(&s).ops[..]);
        // Nothing to number: no transaction at all.
        let numbered = s.with_provisional_ids();
        assert!(Change::assign_ids_guarded(&numbered).ops.is_empty());
    }

    #[test]
    fn reading_numbers_in_memory_as_writing_would_and_skips_reserved_ids() {
        let s = snapshot();
        let read = s.with_provisional_ids();
        assert_eq!(read.to_config().datapaths["system"].ct_zones[&6].timeout_policy, Some(3));
        assert_eq!(s.rows_without_id(), vec!["p2"], "the snapshot itself is as read");
        let ops = Change::assign_ids(&s).ops;
        assert_eq!(ops[0]["mutations"][1], json!(["external_ids", "insert", ["map", [[ID_KEY, "3"]]]]));
        // Ids of kernel objects present are skipped, by reading and writing.
        let mut s = snapshot();
        s.reserved_ids = BTreeSet::from([1, 7]);
        assert_eq!(s.next_policy_id(), 8);
        assert_eq!(
            s.with_provisional_ids().to_config().datapaths["system"].ct_zones[&6].timeout_policy,
            Some(8)
        );
        let ops = Change::assign_ids(&s).ops;
        assert_eq!(ops[1]["mutations"][1], json!(["external_ids", "insert", ["map", [[NEXT_ID_KEY, "9"]]]]));
        // A stray object named with the last id leaves none to give: the
        // row stays out, and nothing is written (no endless numbering).
        s.reserved_ids = BTreeSet::from([MAX_POLICY_ID]);
        assert!(Change::assign_ids(&s).ops.is_empty());
        assert_eq!(
            s.with_provisional_ids().to_config().datapaths["system"].ct_zones[&6].timeout_policy,
            None
        );
    }

    #[test]
    fn ids_outside_1_to_max_policy_id_are_refused_naming_the_row_or_not_kept() {
        let with_id = |value: &str| {
            let mut tables = snapshot().tables;
            let p2 = tables.get_mut("CT_Timeout_Policy").unwrap().get_mut("p2").unwrap();
            p2.insert("external_ids".into(), json!(["map", [[ID_KEY, value]]]));
            Snapshot::from_tables(tables)
        };
        assert_eq!(with_id("4294967294").check_ids(), Ok(()));
        assert_eq!(with_id("4294967294").policy_ids()["p2"], MAX_POLICY_ID);
        for bad in ["0", "4294967295", "99999999999", "-1", "two", ""] {
            let e = with_id(bad).check_ids().unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "CT_Timeout_Policy row p2: external_ids:zonetp-id={bad:?} is not a policy id \
                     (1 to 4294967294); remove it (ovs-vsctl remove CT_Timeout_Policy p2 external_ids \
                     zonetp-id)"
                )),
                "{bad}: {e}"
            );
        }
        // Two rows with one id outside the range: the id is the fault.
        let mut tables = with_id("0").tables;
        let p1 = tables.get_mut("CT_Timeout_Policy").unwrap().get_mut("p1").unwrap();
        p1.insert("external_ids".into(), json!(["map", [[ID_KEY, "0"]]]));
        let e = Snapshot::from_tables(tables).check_ids().unwrap_err();
        assert!(e.starts_with("CT_Timeout_Policy row p1: external_ids:zonetp-id=\"0\" is not"), "{e}");
        // Kernel objects named with an id no policy can have keep none.
        let mut s = snapshot();
        s.reserved_ids = BTreeSet::from([0, 5, u32::MAX]);
        assert_eq!(s.next_policy_id(), 6);
        s.reserved_ids = BTreeSet::from([0, u32::MAX]);
        assert_eq!(s.next_policy_id(), 3);
    }

    #[test]
    fn columns_left_out_read_as_their_defaults() {
        // update2 "initial"/"insert" rows leave out columns at their default.
        let tables: Tables = serde_json::from_value(json!({
            "Open_vSwitch": {"o": {}}, "Datapath": {"d": {}}, "CT_Zone": {"z": {}}, "CT_Timeout_Policy": {"p": {}}
        }))
        .unwrap();
        let s = Snapshot::from_tables(tables);
        assert_eq!(s.ovs.as_ref().unwrap().next_cfg, 0);
        assert_eq!(s.zones["z"], ZoneRow::default());
        assert!(s.policies["p"].timeouts.is_empty());
        assert_eq!(s.rows_without_id(), vec!["p"]);
    }

    #[test]
    fn refusals_follow_the_schema_s_ovs_vsctl() {
        let s = snapshot();
        let p = TimeoutPolicy(BTreeMap::from([("udp_single".into(), 1)]));
        let old = Wording { zone_limit: false };
        let new = Wording { zone_limit: true };
        let err = |r: Result<Change, String>| r.err().unwrap();
        assert_eq!(err(Change::add_zone_tp(&s, &old, "system", 5, &p, false)), "zone id 5 already exists");
        assert_eq!(
            err(Change::add_zone_tp(&s, &new, "system", 5, &p, false)),
            "zone id 5 already has a policy"
        );
        assert_eq!(
            err(Change::add_zone_tp(&s, &old, "netdev", 5, &p, false)),
            "datapath netdev does not exist"
        );
        assert_eq!(err(Change::del_zone_tp(&s, &old, "system", 9, false)), "zone id 9 does not exist");
        assert_eq!(
            err(Change::del_zone_tp(&s, &new, "system", 9, false)),
            "zone id 9 does not have a policy"
        );
        assert!(Change::del_zone_tp(&s, &old, "system", 9, true).unwrap().ops.is_empty());
        assert_eq!(err(Change::add_dp(&s, "system", false)), "datapath system already exists");
        assert_eq!(err(Change::del_dp(&s, "netdev", false)), "datapath netdev does not exist");
    }

    #[test]
    fn a_policy_only_one_zone_uses_changes_in_place() {
        let s = snapshot();
        let p = TimeoutPolicy(BTreeMap::from([("udp_single".into(), 1)]));
        let ops = Change::add_zone_tp(&s, &Wording { zone_limit: false }, "system", 5, &p, true).unwrap().ops;
        assert_eq!(ops[0]["op"], "update");
        assert_eq!(ops[0]["table"], "CT_Timeout_Policy");
        // A new zone gets a new row with the next id and bumps the counter.
        let ops =
            Change::add_zone_tp(&s, &Wording { zone_limit: false }, "system", 7, &p, false).unwrap().ops;
        assert_eq!(ops[0]["row"]["external_ids"], json!(["map", [[ID_KEY, "3"]]]));
        assert_eq!(ops[1]["mutations"][1][2], json!(["map", [[NEXT_ID_KEY, "4"]]]));
        assert_eq!(ops[3]["mutations"][0][2], json!(["map", [[7, ["named-uuid", "zone"]]]]));
    }

    #[test]
    fn the_resolution_mode_lives_in_the_datapath_row_s_external_ids() {
        let mut s = snapshot();
        assert_eq!(s.to_config().datapaths["system"].resolution, ResolutionMode::Zone0Fallback);
        let exact = DpSettings { resolution: Some(ResolutionMode::Exact) };
        let ops = Change::set_dp(&s, "system", exact).unwrap().ops;
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0]["table"], "Datapath");
        assert_eq!(
            ops[0]["mutations"][1],
            json!(["external_ids", "insert", ["map", [[RESOLUTION_KEY, "exact"]]]])
        );
        assert_eq!(
            Change::set_dp(&s, "netdev", exact).err().as_deref(),
            Some("datapath netdev does not exist")
        );
        let row = |v: &str| {
            let mut tables = snapshot().tables;
            tables
                .get_mut("Datapath")
                .unwrap()
                .get_mut("d")
                .unwrap()
                .insert("external_ids".into(), json!(["map", [[RESOLUTION_KEY, v]]]));
            Snapshot::from_tables(tables)
        };
        s = row("exact");
        assert_eq!(s.to_config().datapaths["system"].resolution, ResolutionMode::Exact);
        assert!(s.resolution_errors().is_empty());
        s = row("nearest");
        assert_eq!(s.to_config().datapaths["system"].resolution, ResolutionMode::Zone0Fallback);
        let errors = s.resolution_errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("datapath system: external_ids:zonetp-resolution: "), "{errors:?}");
    }

    #[test]
    fn capabilities_are_read_by_datapath_name_and_set_key_by_key() {
        let replies = json!([
            {"rows": [{"datapaths": ["map", [["netdev", ["uuid", "n"]], ["system", ["uuid", "d"]]]]}]},
            {"rows": [{"_uuid": ["uuid", "n"], "capabilities": ["map", [["recirc", "true"]]]},
                      {"_uuid": ["uuid", "d"], "capabilities": ["map", [["ct_zone", "true"], ["ct_timeout", "false"]]]}]}
        ]);
        let replies = replies.as_array().unwrap();
        let (u, caps) = capabilities_of(replies, "system").unwrap();
        assert_eq!(u, "d");
        assert_eq!(crate::config::dp_cap_line(&caps), "ct_timeout=false ct_zone=true");
        assert_eq!(capabilities_of(replies, "nosystem"), None);
        assert_eq!(capabilities_of(&[json!({"rows": []}), json!({"rows": []})], "system"), None);
        let caps = BTreeMap::from([
            ("ct_timeout".to_owned(), "true".to_owned()),
            ("ct_zone".to_owned(), "true".to_owned()),
        ]);
        let ops = Change::set_capabilities("d", &caps).ops;
        assert_eq!(
            ops,
            vec![json!({"op": "mutate", "table": "Datapath", "where": [["_uuid", "==", ["uuid", "d"]]],
                "mutations": [["capabilities", "delete", ["set", ["ct_timeout", "ct_zone"]]],
                              ["capabilities", "insert", ["map", [["ct_timeout", "true"], ["ct_zone", "true"]]]]]})]
        );
        assert!(Change::set_capabilities("d", &BTreeMap::new()).ops.is_empty());
    }

    #[test]
    fn zone_limits_are_set_and_deleted_as_ovs_vsctl_3_5_does() {
        let mut tables = snapshot().tables;
        tables.get_mut("CT_Zone").unwrap().get_mut("z6").unwrap().insert("limit".into(), json!(7));
        tables
            .get_mut("CT_Zone")
            .unwrap()
            .insert("z8".into(), serde_json::from_value(json!({"limit": 3})).unwrap());
        let d = tables.get_mut("Datapath").unwrap().get_mut("d").unwrap();
        d.insert(
            "ct_zones".into(),
            json!(["map", [[5, ["uuid", "z5"]], [6, ["uuid", "z6"]], [8, ["uuid", "z8"]]]]),
        );
        let s = Snapshot::from_tables(tables);
        let c = s.to_config();
        assert_eq!(c.list_zone_limits("system").unwrap(), ["Zone: 6, Limit: 7", "Zone: 8, Limit: 3"]);
        let z = LimitZone::Zone;
        let ops = |r: Result<Change, String>| r.unwrap().ops;
        let err = |r: Result<Change, String>| r.err().unwrap();
        // A zone with a row: its limit set there.
        assert_eq!(
            ops(Change::set_zone_limit(&s, "system", z(5), 10)),
            vec![
                json!({"op": "update", "table": "CT_Zone", "where": [["_uuid", "==", ["uuid", "z5"]]], "row": {"limit": 10}})
            ]
        );
        // A new zone: a row for the limit alone.
        let new = ops(Change::set_zone_limit(&s, "system", z(9), 0));
        assert_eq!(
            new[0],
            json!({"op": "insert", "table": "CT_Zone", "uuid-name": "zone", "row": {"limit": 0}})
        );
        assert_eq!(
            new[1]["mutations"],
            json!([["ct_zones", "insert", ["map", [[9, ["named-uuid", "zone"]]]]]])
        );
        assert_eq!(
            ops(Change::set_zone_limit(&s, "system", LimitZone::Default, 4294967295)),
            vec![json!({"op": "update", "table": "Datapath", "where": [["_uuid", "==", ["uuid", "d"]]],
                "row": {"ct_zone_default_limit": 4294967295u32}})]
        );
        // Deleting: a zone with a policy keeps its row, one without leaves.
        assert_eq!(
            ops(Change::del_zone_limit(&s, "system", z(6), false)),
            vec![json!({"op": "update", "table": "CT_Zone", "where": [["_uuid", "==", ["uuid", "z6"]]],
                "row": {"limit": ["set", []]}})]
        );
        assert_eq!(
            ops(Change::del_zone_limit(&s, "system", z(8), false)),
            vec![json!({"op": "mutate", "table": "Datapath", "where": [["_uuid", "==", ["uuid", "d"]]],
                "mutations": [["ct_zones", "delete", ["set", [8]]]]})]
        );
        // Refusals, word for word.
        assert_eq!(err(Change::set_zone_limit(&s, "netdevxx", z(5), 1)), "datapath netdevxx does not exist");
        assert_eq!(err(Change::set_zone_limit(&s, "system", z(88888), 1)), "zone_id (88888) out of range");
        assert_eq!(err(Change::set_zone_limit(&s, "system", z(88888), -1)), "limit (-1) out of range");
        assert_eq!(err(Change::del_zone_limit(&s, "system", z(5), false)), "zone_id 5 does not have a limit");
        assert_eq!(
            err(Change::del_zone_limit(&s, "system", z(10), false)),
            "zone_id 10 does not have a limit"
        );
        assert_eq!(
            err(Change::del_zone_limit(&s, "system", LimitZone::Default, false)),
            "datapath system does not have a limit"
        );
        assert!(ops(Change::del_zone_limit(&s, "system", LimitZone::Default, true)).is_empty());
        assert!(ops(Change::del_zone_limit(&s, "system", z(10), true)).is_empty());
        // --if-exists on a zone with neither half: it leaves, as in ovs-vsctl.
        assert_eq!(
            ops(Change::del_zone_limit(&s, "system", z(5), true)).len(),
            0,
            "zone 5 has a policy: kept"
        );
    }

    #[test]
    fn schema_versions_are_checked() {
        // The four tables of Debian's OVS 3.1 schema (8.3.1).
        let schema: Value =
            serde_json::from_str(include_str!("testdata/vswitch-8.3.1-zone-tables.json")).unwrap();
        let info = SchemaInfo::from_schema(&schema).unwrap();
        assert!(info.version >= (8, 2, 0));
        let mut old = schema.clone();
        old["version"] = json!("8.1.0");
        assert!(SchemaInfo::from_schema(&old).unwrap_err().to_string().contains("need 8.2.0 or later"));
        let mut with_limit = schema.clone();
        with_limit["tables"]["CT_Zone"]["columns"]["limit"] =
            json!({"type": {"key": "integer", "min": 0, "max": 1}});
        assert!(SchemaInfo::from_schema(&with_limit).unwrap().zone_limit);
        assert!(!SchemaInfo::from_schema(&with_limit).unwrap().has_zone_limits(), "8.5.0 has both columns");
        with_limit["tables"]["Datapath"]["columns"]["ct_zone_default_limit"] =
            json!({"type": {"key": "integer", "min": 0, "max": 1}});
        let info85 = SchemaInfo::from_schema(&with_limit).unwrap();
        assert!(info85.has_zone_limits());
        assert!(info85
            .columns()
            .contains(&("Datapath", vec!["ct_zones", "external_ids", "ct_zone_default_limit"])));
        assert!(!info.has_zone_limits());
        let kind = |t: &str, c: &str| info.kinds[&(t.to_owned(), c.to_owned())];
        assert_eq!(kind("Open_vSwitch", "next_cfg"), ColumnKind::Scalar);
        assert_eq!(kind("CT_Zone", "timeout_policy"), ColumnKind::Scalar);
        assert_eq!(kind("Datapath", "ct_zones"), ColumnKind::Map);
        assert_eq!(kind("CT_Timeout_Policy", "timeouts"), ColumnKind::Map);
        assert_eq!(parse_version("8.3.1"), Some((8, 3, 1)));
        assert_eq!(parse_version("8.3"), None);
    }
}
