//! The zone configuration, shaped as OVS's tables: a datapath (`Datapath`)
//! maps zones to zone records (`CT_Zone`), which point at a shared timeout
//! policy (`CT_Timeout_Policy`). Commands here mirror ovs-vsctl's, with its
//! refusals word for word.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::cttimeout::{L3Proto, L4Proto};
use crate::error::{Error, Result};
use crate::policy::{is_policy_id, object_name, TimeoutPolicy, MAX_POLICY_ID, NOT_A_POLICY_ID};

pub const SCHEMA_VERSION: u32 = 1;

pub type ExternalIds = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub schema_version: u32,
    #[serde(default)]
    pub datapaths: BTreeMap<String, Datapath>,
    /// Policies by id; identical policies share one id.
    #[serde(default)]
    pub timeout_policies: BTreeMap<u32, PolicyRecord>,
    /// Ids of removed policies whose kernel objects may still exist (a
    /// delete refused while in use). Not reused until `sync` clears them,
    /// so a new policy never takes over objects that flows still hold.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub retired_policy_ids: BTreeSet<u32>,
    /// Datapaths whose record cannot be used, with why (an OVS database
    /// row with a resolution mode no zonetp knows). Only their own verbs
    /// fail; the other datapaths work. Never in the file.
    #[serde(skip)]
    pub unusable_datapaths: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datapath {
    #[serde(default)]
    pub ct_zones: BTreeMap<u16, ZoneRecord>,
    /// How a zone without a policy of its own is resolved. Files written
    /// before this setting existed load as the default.
    #[serde(default, skip_serializing_if = "ResolutionMode::is_default")]
    pub resolution: ResolutionMode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: ExternalIds,
    /// What the kernel datapath supports, as `Datapath.capabilities` holds
    /// it in an OVS database (`ct_zone=true`, ...): written by `zonetp
    /// sync` from what it probed, shown by `list-dp-cap`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, String>,
    /// The conntrack limit of a zone without one of its own
    /// (`Datapath.ct_zone_default_limit`, OVS 3.3); 0 is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_zone_default_limit: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRecord {
    /// `None`: the zone uses the system default.
    pub timeout_policy: Option<u32>,
    /// The zone's conntrack limit (`CT_Zone.limit`, OVS 3.3); 0 is
    /// unlimited. A zone may have a record for a limit alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: ExternalIds,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    pub timeouts: TimeoutPolicy,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: ExternalIds,
}

/// Which policy a zone without one of its own gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResolutionMode {
    /// Zone N's policy, else zone 0's, else the kernel's defaults: what
    /// the 2019 OVS series' cover letter proposed (zonetp's default).
    #[default]
    Zone0Fallback,
    /// Zone N's policy, else the kernel's defaults: what OVS merged and
    /// ships (`vswitch.xml`: such a zone uses the system default).
    Exact,
}

impl ResolutionMode {
    pub const NAMES: [&'static str; 2] = ["zone0-fallback", "exact"];

    pub fn name(self) -> &'static str {
        match self {
            ResolutionMode::Zone0Fallback => "zone0-fallback",
            ResolutionMode::Exact => "exact",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "zone0-fallback" => Ok(ResolutionMode::Zone0Fallback),
            "exact" => Ok(ResolutionMode::Exact),
            _ => Err(Error::Invalid(format!(
                "unknown resolution mode \"{s}\" (expected {})",
                Self::NAMES.join(" or ")
            ))),
        }
    }

    fn is_default(&self) -> bool {
        *self == ResolutionMode::default()
    }
}

impl std::fmt::Display for ResolutionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The settings of `set-dp DP KEY=VALUE...`: at least one, each known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpSettings {
    pub resolution: Option<ResolutionMode>,
}

impl DpSettings {
    /// Parses `KEY=VALUE` words of `set-dp DP` (`dp` names the datapath
    /// in the messages); nothing in them depends on the file.
    pub fn parse(dp: &str, settings: &[String]) -> Result<Self> {
        if settings.is_empty() {
            return Err(Error::Invalid(format!(
                "set-dp {dp}: nothing to set (expected resolution={})",
                ResolutionMode::NAMES.join("|")
            )));
        }
        let mut parsed = DpSettings::default();
        for s in settings {
            match s.split_once('=') {
                Some(("resolution", v)) => parsed.resolution = Some(ResolutionMode::parse(v)?),
                _ => {
                    return Err(Error::Invalid(format!(
                        "set-dp {dp}: unknown setting \"{s}\" (expected resolution={})",
                        ResolutionMode::NAMES.join("|")
                    )))
                }
            }
        }
        Ok(parsed)
    }
}

/// Where a zone's policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySource {
    /// The zone's own policy.
    Own,
    /// Zone 0's, by the zone0-fallback rule.
    Zone0,
    /// None: the kernel's per-namespace defaults.
    Default,
}

impl PolicySource {
    pub fn name(self) -> &'static str {
        match self {
            PolicySource::Own => "own",
            PolicySource::Zone0 => "zone 0",
            PolicySource::Default => "default",
        }
    }
}

impl Datapath {
    /// The ids of the policies its zones use.
    pub fn policy_ids(&self) -> BTreeSet<u32> {
        self.ct_zones.values().filter_map(|z| z.timeout_policy).collect()
    }

    /// The policy id that applies to `zone` under this datapath's
    /// resolution mode, and where it comes from.
    pub fn policy_for(&self, zone: u16) -> (PolicySource, Option<u32>) {
        let own = |z: u16| self.ct_zones.get(&z).and_then(|r| r.timeout_policy);
        match (own(zone), self.resolution) {
            (Some(id), _) => (PolicySource::Own, Some(id)),
            (None, ResolutionMode::Zone0Fallback) if zone != 0 => match own(0) {
                Some(id) => (PolicySource::Zone0, Some(id)),
                None => (PolicySource::Default, None),
            },
            (None, _) => (PolicySource::Default, None),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            datapaths: BTreeMap::new(),
            timeout_policies: BTreeMap::new(),
            retired_policy_ids: BTreeSet::new(),
            unusable_datapaths: BTreeMap::new(),
        }
    }
}

/// Parses `zone=N` as ovs-vsctl does (`zone=%i`: an optional sign, then
/// decimal, 0x hex or 0 octal digits, and nothing else).
pub fn parse_zone_arg(arg: &str) -> Result<u16> {
    let invalid = || Error::Invalid(format!("invalid zone argument, {arg}"));
    let n = arg.strip_prefix("zone=").ok_or_else(invalid)?;
    let value = parse_c_integer(n).ok_or_else(invalid)?;
    u16::try_from(value)
        .map_err(|_| Error::Invalid(format!("zone {value} is not in the valid range 0 to 65535 (inclusive)")))
}

/// Longest datapath name, in bytes: a Linux interface name's (IFNAMSIZ
/// less its NUL). OVS's kernel datapath is a net device (`ovs-system`),
/// and its datapath types (`system`, `netdev`) are short words.
pub const DATAPATH_NAME_MAX: usize = 15;

/// A datapath name, checked as Linux checks a net device name
/// (`dev_valid_name`: not empty, shorter than IFNAMSIZ, not `.` or `..`,
/// no `/`, `:` or whitespace), and without control characters (it is
/// printed one per line). `add-dp` used to take `" system"` and a
/// 5,000-byte name.
pub fn check_datapath_name(name: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::Invalid(format!("datapath name {name:?} {why}")));
    if name.is_empty() {
        return Err(Error::Invalid("datapath name is empty".into()));
    }
    if name.len() > DATAPATH_NAME_MAX {
        let start: String = name.chars().take(DATAPATH_NAME_MAX).collect();
        return Err(Error::Invalid(format!(
            "datapath name {start:?}... is {} bytes long; at most {DATAPATH_NAME_MAX} are allowed \
             (a Linux interface name's limit)",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    if name.chars().any(char::is_whitespace) {
        return refuse("contains whitespace");
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | ':')) {
        return refuse(&format!("contains '{c}', which a Linux interface name cannot"));
    }
    if name == "." || name == ".." {
        return refuse("is not a name a Linux interface can have");
    }
    Ok(())
}

/// ovs-vsctl's refusal of `list-dp-cap` for a datapath without a record.
pub fn dp_record_not_found(dp: &str) -> String {
    format!("datapath \"{dp}\" record not found")
}

/// `list-dp-cap`'s line, as ovs-vsctl prints it: `KEY=VALUE` pairs
/// separated by spaces, on one line (an empty line for none). ovs-vsctl
/// prints them in its hash table's order; zonetp sorts them by key.
pub fn dp_cap_line(caps: &BTreeMap<String, String>) -> String {
    caps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// The zone word of `set-zone-limit` and `del-zone-limit`: a zone, or
/// `default` (the datapath's default limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitZone {
    /// As given: the range is checked where ovs-vsctl checks it (after
    /// the datapath), so its words come in its order.
    Zone(i64),
    Default,
}

/// Parses `%i` as ovs-vsctl's `ovs_scan(..., "%"SCNi64)` takes it: an
/// optional sign, then decimal, 0x hex or 0 octal digits (and, unlike
/// sscanf, nothing after them).
pub fn parse_c_integer(n: &str) -> Option<i64> {
    let (neg, digits) = match n.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    // from_str_radix takes a sign of its own: only digits may be left.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -value } else { value })
}

impl LimitZone {
    /// `N`, `default` (ovs-vsctl 3.5's words), or `zone=N`, `zone=default`
    /// (the form of zonetp's other zone verbs). A word that is no number
    /// is refused in the words of later ovs-vsctl (3.5 reads it as -1).
    pub fn parse(word: &str) -> Result<Self> {
        let v = word.strip_prefix("zone=").unwrap_or(word);
        if v == "default" {
            return Ok(LimitZone::Default);
        }
        parse_c_integer(v)
            .map(LimitZone::Zone)
            .ok_or_else(|| Error::Invalid(format!("invalid zone id, {word}")))
    }
}

/// The limit word of `set-zone-limit`: `L` (ovs-vsctl's) or `limit=L`;
/// the range is checked later, as ovs-vsctl does.
pub fn parse_limit_arg(word: &str) -> Result<i64> {
    let v = word.strip_prefix("limit=").unwrap_or(word);
    parse_c_integer(v).ok_or_else(|| Error::Invalid(format!("invalid limit, {word}")))
}

/// ovs-vsctl's checks of `set-zone-limit`'s values, in its order (after
/// the datapath's): the limit, then the zone.
pub fn check_limit_args(zone: LimitZone, limit: i64) -> Result<(Option<u16>, u32)> {
    let limit = u32::try_from(limit).map_err(|_| Error::Invalid(format!("limit ({limit}) out of range")))?;
    match zone {
        LimitZone::Default => Ok((None, limit)),
        LimitZone::Zone(z) => match u16::try_from(z) {
            Ok(z) => Ok((Some(z), limit)),
            Err(_) => Err(Error::Invalid(format!("zone_id ({z}) out of range"))),
        },
    }
}

/// Where `resolve` found a zone's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    pub datapath: String,
    pub zone: u16,
    /// The datapath's resolution mode.
    pub resolution: ResolutionMode,
    /// Where the policy comes from: own, zone 0 or default.
    pub source: PolicySource,
    /// The zone whose policy applies: `zone`, or 0 as the fallback.
    pub policy_zone: Option<u16>,
    pub policy_id: Option<u32>,
    /// The kernel object a `ct(commit, zone=N)` action carries as
    /// `OVS_CT_ATTR_TIMEOUT`; `None` means the kernel's defaults.
    pub object: Option<String>,
}

impl Config {
    /// Checks a configuration read from a file: references resolve, keys
    /// are known.
    pub fn validate(&self) -> Result<()> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(Error::Store(format!(
                "schema version {} is not supported (this zonetp reads version {SCHEMA_VERSION})",
                self.schema_version
            )));
        }
        for (id, p) in &self.timeout_policies {
            if !is_policy_id(*id) {
                return Err(Error::Store(format!("timeout_policies: \"{id}\" {NOT_A_POLICY_ID}")));
            }
            p.timeouts.validate().map_err(|e| Error::Store(format!("timeout policy {id}: {e}")))?;
        }
        // Harmless (no id outside the range is ever given), but a value
        // zonetp never writes: refused as the policies' ids are.
        if let Some(id) = self.retired_policy_ids.iter().find(|id| !is_policy_id(**id)) {
            return Err(Error::Store(format!("retired_policy_ids: {id} {NOT_A_POLICY_ID}")));
        }
        for (dp, d) in &self.datapaths {
            for (zone, z) in &d.ct_zones {
                if let Some(id) = z.timeout_policy {
                    if !self.timeout_policies.contains_key(&id) {
                        return Err(Error::Store(format!(
                            "datapath {dp} zone {zone} refers to timeout policy {id}, which does not exist"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn datapath_mut(&mut self, name: &str) -> Result<&mut Datapath> {
        self.datapaths.get_mut(name).ok_or_else(|| Error::Invalid(format!("datapath {name} does not exist")))
    }

    pub fn datapath(&self, name: &str) -> Result<&Datapath> {
        if let Some(why) = self.unusable_datapaths.get(name) {
            return Err(Error::Invalid(why.clone()));
        }
        self.datapaths.get(name).ok_or_else(|| Error::Invalid(format!("datapath {name} does not exist")))
    }

    /// The name is checked ([`check_datapath_name`]) only when the record
    /// is created: `--may-exist` on a record an older zonetp made under a
    /// name the rule now refuses is still the no-op it was.
    pub fn add_dp(&mut self, name: &str, may_exist: bool) -> Result<()> {
        if self.datapaths.contains_key(name) {
            if may_exist {
                return Ok(());
            }
            return Err(Error::Invalid(format!("datapath {name} already exists")));
        }
        check_datapath_name(name)?;
        self.datapaths.insert(name.to_owned(), Datapath::default());
        Ok(())
    }

    pub fn del_dp(&mut self, name: &str, if_exists: bool) -> Result<()> {
        if self.datapaths.remove(name).is_none() && !if_exists {
            return Err(Error::Invalid(format!("datapath {name} does not exist")));
        }
        self.collect_garbage();
        Ok(())
    }

    /// `add-zone-tp`: gives `zone` the policy, reusing an identical one.
    /// With `may_exist` an existing policy is replaced (as ovs-vsctl's code
    /// does, whatever its manual says). Returns the policy id.
    pub fn add_zone_tp(
        &mut self,
        dp: &str,
        zone: u16,
        policy: TimeoutPolicy,
        may_exist: bool,
    ) -> Result<u32> {
        self.add_zone_tp_avoiding(dp, zone, policy, may_exist, &BTreeSet::new())
    }

    /// `add_zone_tp` where a new policy gets no id of `reserved` (ids of
    /// kernel objects still present, which a file made anew does not
    /// know as retired).
    pub fn add_zone_tp_avoiding(
        &mut self,
        dp: &str,
        zone: u16,
        policy: TimeoutPolicy,
        may_exist: bool,
        reserved: &BTreeSet<u32>,
    ) -> Result<u32> {
        let has_policy = self.datapath(dp)?.ct_zones.get(&zone).is_some_and(|z| z.timeout_policy.is_some());
        if has_policy && !may_exist {
            return Err(Error::Invalid(format!("zone id {zone} already has a policy")));
        }
        let current = self.datapath(dp)?.ct_zones.get(&zone).and_then(|z| z.timeout_policy);
        let id = match self.timeout_policies.iter().find(|(_, p)| p.timeouts == policy) {
            Some((id, _)) => *id,
            // The zone's own policy, used by no other zone, changes in
            // place: its kernel objects are replaced, not made anew, so
            // only the objects whose keys changed are touched.
            None if current.is_some_and(|id| self.zones_using(id) == 1) => {
                let id = current.expect("checked");
                self.timeout_policies.get_mut(&id).expect("validated reference").timeouts = policy;
                id
            }
            None => {
                let id = self.free_policy_id(reserved)?;
                self.timeout_policies
                    .insert(id, PolicyRecord { timeouts: policy, external_ids: ExternalIds::new() });
                id
            }
        };
        self.datapath_mut(dp)?.ct_zones.entry(zone).or_default().timeout_policy = Some(id);
        self.collect_garbage();
        Ok(id)
    }

    /// `del-zone-tp`: removes the zone's record (and its policy, once no
    /// zone uses it); a zone with a limit keeps its record and the limit,
    /// as ovs-vsctl 3.3 and later do.
    pub fn del_zone_tp(&mut self, dp: &str, zone: u16, if_exists: bool) -> Result<()> {
        let d = self.datapath_mut(dp)?;
        let has_policy = d.ct_zones.get(&zone).is_some_and(|z| z.timeout_policy.is_some());
        if !has_policy && !if_exists {
            return Err(Error::Invalid(format!("zone id {zone} does not have a policy")));
        }
        match d.ct_zones.get_mut(&zone) {
            Some(z) if z.limit.is_some() => z.timeout_policy = None,
            _ => drop(d.ct_zones.remove(&zone)),
        }
        self.collect_garbage();
        Ok(())
    }

    /// `set-zone-limit DP ZONE|default LIMIT`, refused in ovs-vsctl 3.5's
    /// words and order: the datapath, the limit's range, the zone's. A
    /// zone without a record gets one for the limit alone.
    pub fn set_zone_limit(&mut self, dp: &str, zone: LimitZone, limit: i64) -> Result<()> {
        let d = self.datapath_mut(dp)?;
        match check_limit_args(zone, limit)? {
            (None, limit) => d.ct_zone_default_limit = Some(limit),
            (Some(zone), limit) => d.ct_zones.entry(zone).or_default().limit = Some(limit),
        }
        Ok(())
    }

    /// `del-zone-limit DP ZONE|default`: a zone with a policy keeps its
    /// record and the policy; one without goes.
    pub fn del_zone_limit(&mut self, dp: &str, zone: LimitZone, if_exists: bool) -> Result<()> {
        let d = self.datapath_mut(dp)?;
        let zone = match zone {
            LimitZone::Default => {
                if d.ct_zone_default_limit.is_none() && !if_exists {
                    return Err(Error::Invalid(format!("datapath {dp} does not have a limit")));
                }
                d.ct_zone_default_limit = None;
                return Ok(());
            }
            LimitZone::Zone(z) => z,
        };
        let key = u16::try_from(zone).ok();
        let has_limit = key.and_then(|k| d.ct_zones.get(&k)).is_some_and(|z| z.limit.is_some());
        if !has_limit && !if_exists {
            return Err(Error::Invalid(format!("zone_id {zone} does not have a limit")));
        }
        let Some(key) = key else { return Ok(()) };
        match d.ct_zones.get_mut(&key) {
            Some(z) if z.timeout_policy.is_some() => z.limit = None,
            Some(_) => drop(d.ct_zones.remove(&key)),
            None => {}
        }
        Ok(())
    }

    /// `list-zone-limits` output, line for line as ovs-vsctl 3.5 prints it.
    pub fn list_zone_limits(&self, dp: &str) -> Result<Vec<String>> {
        let d = self
            .datapaths
            .get(dp)
            .ok_or_else(|| Error::Invalid(format!("datapath: {dp} record not found")))?;
        let default = d.ct_zone_default_limit.map(|l| format!("Default, Limit: {l}"));
        let zones = d.ct_zones.iter().filter_map(|(z, r)| Some(format!("Zone: {z}, Limit: {}", r.limit?)));
        Ok(default.into_iter().chain(zones).collect())
    }

    fn zones_using(&self, id: u32) -> usize {
        self.datapaths
            .values()
            .flat_map(|d| d.ct_zones.values())
            .filter(|z| z.timeout_policy == Some(id))
            .count()
    }

    /// The lowest id in 1..=MAX_POLICY_ID neither in use, retired nor
    /// reserved.
    fn free_policy_id(&self, reserved: &BTreeSet<u32>) -> Result<u32> {
        let taken = |id: &u32| {
            self.timeout_policies.contains_key(id)
                || self.retired_policy_ids.contains(id)
                || reserved.contains(id)
        };
        (1..=MAX_POLICY_ID)
            .find(|id| !taken(id))
            .ok_or_else(|| Error::Invalid("no free timeout policy id is left".into()))
    }

    /// Drops policies no zone refers to; their ids stay reserved until
    /// `sync` has removed their kernel objects.
    fn collect_garbage(&mut self) {
        let used: BTreeSet<u32> = self.datapaths.values().flat_map(Datapath::policy_ids).collect();
        let unused: Vec<u32> =
            self.timeout_policies.keys().filter(|id| !used.contains(id)).copied().collect();
        for id in unused {
            self.timeout_policies.remove(&id);
            self.retired_policy_ids.insert(id);
        }
    }

    /// `set-dp DP KEY=VALUE...`: datapath settings (`resolution=`).
    pub fn set_dp(&mut self, dp: &str, settings: &[String]) -> Result<()> {
        let settings = DpSettings::parse(dp, settings)?;
        self.apply_dp_settings(dp, settings)
    }

    /// Applies settings already parsed (the CLI parses them first, so a
    /// bad word is a usage error and the file is never touched).
    pub fn apply_dp_settings(&mut self, dp: &str, settings: DpSettings) -> Result<()> {
        let d = self.datapath_mut(dp)?;
        if let Some(resolution) = settings.resolution {
            d.resolution = resolution;
        }
        Ok(())
    }

    /// The policy of a zone: its own, else (in the default zone0-fallback
    /// mode) zone 0's, else none (the kernel's defaults).
    pub fn resolve(&self, dp: &str, zone: u16, l3: L3Proto, l4: L4Proto) -> Result<Resolution> {
        let d = self.datapath(dp)?;
        if object_name(1, l3, l4).is_none() {
            return Err(Error::Invalid(format!(
                "zone timeout policies cover ipv4/ipv6 with tcp, udp, icmp (ipv4) and icmpv6 (ipv6), not {l3} {l4}"
            )));
        }
        let (source, policy_id) = d.policy_for(zone);
        let policy_zone = match source {
            PolicySource::Own => Some(zone),
            PolicySource::Zone0 => Some(0),
            PolicySource::Default => None,
        };
        Ok(Resolution {
            datapath: dp.to_owned(),
            zone,
            resolution: d.resolution,
            source,
            policy_zone,
            policy_id,
            object: policy_id.and_then(|id| object_name(id, l3, l4)),
        })
    }

    /// `list-dp-cap`'s map, refused in ovs-vsctl's words.
    pub fn dp_capabilities(&self, dp: &str) -> Result<&BTreeMap<String, String>> {
        self.datapaths.get(dp).map(|d| &d.capabilities).ok_or_else(|| Error::Invalid(dp_record_not_found(dp)))
    }

    /// Sets the keys of `caps` in the datapath's capabilities (others
    /// stay: another writer's keys are not zonetp's to drop).
    pub fn set_capabilities(&mut self, dp: &str, caps: &BTreeMap<String, String>) -> Result<()> {
        let d = self.datapath_mut(dp)?;
        d.capabilities.extend(caps.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }

    /// `list-zone-tp` output, line for line as ovs-vsctl prints it.
    pub fn list_zone_tp(&self, dp: &str) -> Result<Vec<String>> {
        let d = self
            .datapaths
            .get(dp)
            .ok_or_else(|| Error::Invalid(format!("datapath: {dp} record not found")))?;
        Ok(d.ct_zones
            .iter()
            .map(|(zone, z)| {
                let policies = match z.timeout_policy.and_then(|id| self.timeout_policies.get(&id)) {
                    Some(p) => p.timeouts.to_words(),
                    None => "system default".to_owned(),
                };
                format!("Zone:{zone}, Timeout Policies: {policies}")
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(words: &[&str]) -> TimeoutPolicy {
        TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn with_system() -> Config {
        let mut c = Config::default();
        c.add_dp("system", false).unwrap();
        c
    }

    #[test]
    fn ovs_vsctl_refusals() {
        let mut c = with_system();
        let e = c.add_zone_tp("netdev", 1, tp(&["udp_first=1"]), false).unwrap_err();
        assert_eq!(e.to_string(), "datapath netdev does not exist");
        c.add_zone_tp("system", 2, tp(&["udp_first=1"]), false).unwrap();
        let e = c.add_zone_tp("system", 2, tp(&["udp_first=2"]), false).unwrap_err();
        assert_eq!(e.to_string(), "zone id 2 already has a policy");
        let e = c.del_zone_tp("system", 11, false).unwrap_err();
        assert_eq!(e.to_string(), "zone id 11 does not have a policy");
        c.del_zone_tp("system", 11, true).unwrap();
        assert_eq!(c.list_zone_tp("nope").unwrap_err().to_string(), "datapath: nope record not found");
        assert_eq!(
            parse_zone_arg("zone=UNKNOWN").unwrap_err().to_string(),
            "invalid zone argument, zone=UNKNOWN"
        );
        assert_eq!(parse_zone_arg("5").unwrap_err().to_string(), "invalid zone argument, 5");
        assert!(parse_zone_arg("zone=65536")
            .unwrap_err()
            .to_string()
            .contains("not in the valid range 0 to 65535"));
        assert!(parse_zone_arg("zone=-1").is_err());
        assert_eq!(parse_zone_arg("zone=0x10").unwrap(), 16);
        assert_eq!(parse_zone_arg("zone=010").unwrap(), 8);
        assert_eq!(parse_zone_arg("zone=65535").unwrap(), 65535);
        for bad in [
            "zone=--9",
            "zone=0x+a",
            "zone=0x-1",
            "zone=0+7",
            "zone=",
            "zone=0x",
            "zone= 5",
            "zone=5 ",
            "zone=08",
            "zone=+-1",
            "zone=1e3",
        ] {
            assert_eq!(parse_zone_arg(bad).unwrap_err().to_string(), format!("invalid zone argument, {bad}"));
        }
        assert_eq!(parse_zone_arg("zone=+5").unwrap(), 5, "%i takes a sign");
        assert_eq!(parse_zone_arg("zone=-0").unwrap(), 0);
        assert_eq!(parse_zone_arg("zone=0XfF").unwrap(), 255);
        assert!(parse_zone_arg("zone=99999999999999999999").is_err());
    }

    #[test]
    fn capabilities_are_listed_sorted_on_one_line_and_refused_as_ovs_vsctl_does() {
        let mut c = with_system();
        assert_eq!(dp_cap_line(c.dp_capabilities("system").unwrap()), "");
        let caps = BTreeMap::from([("ct_zone".into(), "true".into()), ("ct_timeout".into(), "false".into())]);
        c.set_capabilities("system", &caps).unwrap();
        c.set_capabilities("system", &BTreeMap::from([("recirc".into(), "true".into())])).unwrap();
        assert_eq!(
            dp_cap_line(c.dp_capabilities("system").unwrap()),
            "ct_timeout=false ct_zone=true recirc=true"
        );
        assert_eq!(
            c.dp_capabilities("nosystem").unwrap_err().to_string(),
            "datapath \"nosystem\" record not found"
        );
        assert_eq!(
            c.set_capabilities("netdev", &caps).unwrap_err().to_string(),
            "datapath netdev does not exist"
        );
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.contains(r#""capabilities":{"ct_timeout":"false","ct_zone":"true","recirc":"true"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Config>(&text).unwrap(), c);
    }

    #[test]
    fn zone_limits_as_ovs_vsctl_3_5_sets_lists_and_refuses_them() {
        let mut c = with_system();
        let z = |n: i64| LimitZone::Zone(n);
        assert!(c.list_zone_limits("system").unwrap().is_empty());
        c.set_zone_limit("system", z(1), 1).unwrap();
        c.set_zone_limit("system", z(1), 5).unwrap();
        assert_eq!(c.list_zone_limits("system").unwrap(), ["Zone: 1, Limit: 5"]);
        c.del_zone_limit("system", z(1), false).unwrap();
        assert!(c.datapaths["system"].ct_zones.is_empty(), "a zone with neither half goes");
        // A zone with a limit and a policy keeps its record while either is set.
        c.set_zone_limit("system", z(10), 5).unwrap();
        c.add_zone_tp("system", 10, tp(&["icmp_first=1", "icmp_reply=2"]), false).unwrap();
        c.del_zone_limit("system", z(10), false).unwrap();
        assert!(c.list_zone_limits("system").unwrap().is_empty());
        assert_eq!(
            c.list_zone_tp("system").unwrap(),
            ["Zone:10, Timeout Policies: icmp_first=1 icmp_reply=2"]
        );
        c.set_zone_limit("system", z(10), 5).unwrap();
        c.del_zone_tp("system", 10, false).unwrap();
        assert_eq!(c.list_zone_limits("system").unwrap(), ["Zone: 10, Limit: 5"]);
        assert_eq!(c.list_zone_tp("system").unwrap(), ["Zone:10, Timeout Policies: system default"]);
        assert!(c.timeout_policies.is_empty(), "the policy went with its last zone");
        c.set_zone_limit("system", LimitZone::Default, 5).unwrap();
        c.set_zone_limit("system", LimitZone::Default, 10).unwrap();
        assert_eq!(c.list_zone_limits("system").unwrap(), ["Default, Limit: 10", "Zone: 10, Limit: 5"]);
        c.del_zone_limit("system", LimitZone::Default, false).unwrap();
        c.del_zone_limit("system", LimitZone::Default, true).unwrap();
        assert_eq!(c.list_zone_limits("system").unwrap(), ["Zone: 10, Limit: 5"]);
        // Refusals, word for word (tests/ovs-vsctl.at of OVS 3.5).
        let e = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(e(c.set_zone_limit("netdevxx", z(5), 1)), "datapath netdevxx does not exist");
        assert_eq!(e(c.set_zone_limit("system", z(88888), 1)), "zone_id (88888) out of range");
        assert_eq!(e(c.set_zone_limit("system", z(5), -1)), "limit (-1) out of range");
        assert_eq!(e(c.set_zone_limit("system", z(-1), 4294967296)), "limit (4294967296) out of range");
        assert_eq!(e(c.del_zone_limit("system", z(11), false)), "zone_id 11 does not have a limit");
        assert_eq!(e(c.del_zone_limit("system", z(88888), false)), "zone_id 88888 does not have a limit");
        c.del_zone_limit("system", z(88888), true).unwrap();
        assert_eq!(
            e(c.set_zone_limit("netdevxx", LimitZone::Default, 1)),
            "datapath netdevxx does not exist"
        );
        assert_eq!(e(c.set_zone_limit("system", LimitZone::Default, -1)), "limit (-1) out of range");
        assert_eq!(
            e(c.del_zone_limit("system", LimitZone::Default, false)),
            "datapath system does not have a limit"
        );
        assert_eq!(e(c.list_zone_limits("nope").map(drop)), "datapath: nope record not found");
        c.set_zone_limit("system", z(65535), u32::MAX.into()).unwrap();
        c.set_zone_limit("system", z(0), 0).unwrap();
        assert_eq!(
            c.list_zone_limits("system").unwrap(),
            ["Zone: 0, Limit: 0", "Zone: 10, Limit: 5", "Zone: 65535, Limit: 4294967295"]
        );
        // The words: ovs-vsctl's bare values, or zonetp's key=value form.
        assert_eq!(LimitZone::parse("default").unwrap(), LimitZone::Default);
        assert_eq!(LimitZone::parse("zone=default").unwrap(), LimitZone::Default);
        assert_eq!(LimitZone::parse("0x10").unwrap(), z(16));
        assert_eq!(LimitZone::parse("zone=-3").unwrap(), z(-3));
        assert_eq!(LimitZone::parse("zone=x").unwrap_err().to_string(), "invalid zone id, zone=x");
        assert_eq!(LimitZone::parse("5 ").unwrap_err().to_string(), "invalid zone id, 5 ");
        assert_eq!(parse_limit_arg("limit=010").unwrap(), 8);
        assert_eq!(parse_limit_arg("-1").unwrap(), -1);
        assert_eq!(parse_limit_arg("lots").unwrap_err().to_string(), "invalid limit, lots");
        // The file keeps them; a file without them reads as before.
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&text).unwrap(), c);
        assert!(!serde_json::to_string(&with_system()).unwrap().contains("limit"));
    }

    #[test]
    fn datapath_names_are_one_line() {
        let mut c = Config::default();
        assert!(c.add_dp("a\nb", false).unwrap_err().to_string().contains("control character"));
        assert!(c.add_dp("", false).is_err());
        c.add_dp("système", false).unwrap();
        c.add_dp(&"s".repeat(15), false).unwrap();
        let e = c.add_dp(&"s".repeat(16), false).unwrap_err().to_string();
        assert!(e.contains("16 bytes long; at most 15"), "{e}");
        for (name, says) in [
            (" system", "whitespace"),
            ("system ", "whitespace"),
            ("a\u{a0}b", "whitespace"),
            ("a/b", "contains '/'"),
            ("a:b", "contains ':'"),
            ("..", "not a name"),
        ] {
            let e = c.add_dp(name, false).unwrap_err().to_string();
            assert!(e.contains(says), "{name:?}: {e}");
        }
    }

    #[test]
    fn may_exist_takes_a_record_made_before_the_name_rule() {
        let mut c = Config::default();
        c.datapaths.insert(" old".into(), Datapath::default());
        c.add_dp(" old", true).unwrap();
        assert!(c.add_dp(" old", false).unwrap_err().to_string().contains("already exists"));
        assert!(c.add_dp(" new", true).unwrap_err().to_string().contains("whitespace"));
        assert_eq!(c.datapaths.keys().collect::<Vec<_>>(), [" old"]);
    }

    #[test]
    fn identical_policies_share_an_id_and_ids_are_lowest_free() {
        let mut c = with_system();
        assert_eq!(c.add_zone_tp("system", 1, tp(&["udp_first=1", "icmp_reply=2"]), false).unwrap(), 1);
        assert_eq!(c.add_zone_tp("system", 2, tp(&["icmp_reply=2", "udp_first=1"]), false).unwrap(), 1);
        assert_eq!(c.add_zone_tp("system", 3, tp(&["udp_first=3"]), false).unwrap(), 2);
        assert_eq!(
            c.list_zone_tp("system").unwrap(),
            vec![
                "Zone:1, Timeout Policies: icmp_reply=2 udp_first=1",
                "Zone:2, Timeout Policies: icmp_reply=2 udp_first=1",
                "Zone:3, Timeout Policies: udp_first=3",
            ]
        );
        // --may-exist on a policy no other zone shares changes it in place.
        assert_eq!(c.add_zone_tp("system", 3, tp(&["udp_first=4"]), true).unwrap(), 2);
        // A shared one is left to the other zone; this zone gets a new id.
        assert_eq!(c.add_zone_tp("system", 2, tp(&["udp_first=9"]), true).unwrap(), 3);
        assert_eq!(c.timeout_policies[&1].timeouts.to_words(), "icmp_reply=2 udp_first=1");
        // Moving to an identical policy retires the old id, which is not reused.
        assert_eq!(c.add_zone_tp("system", 3, tp(&["udp_first=9"]), true).unwrap(), 3);
        assert!(!c.timeout_policies.contains_key(&2));
        assert!(c.retired_policy_ids.contains(&2));
        assert_eq!(c.add_zone_tp("system", 4, tp(&["udp_first=5"]), false).unwrap(), 4);
        c.retired_policy_ids.clear(); // what sync does once the kernel let go
        assert_eq!(c.add_zone_tp("system", 5, tp(&["udp_first=6"]), false).unwrap(), 2);
    }

    #[test]
    fn zone_zero_is_the_fallback() {
        let mut c = with_system();
        let r = c.resolve("system", 5, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.policy_zone, r.object), (None, None));
        c.add_zone_tp("system", 0, tp(&["udp_single=9"]), false).unwrap();
        let r = c.resolve("system", 5, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.policy_zone, r.object.as_deref()), (Some(0), Some("ovs_tp_1_udp4")));
        c.add_zone_tp("system", 5, tp(&["udp_single=1"]), false).unwrap();
        let r = c.resolve("system", 5, L3Proto::IPV6, L4Proto::ICMPV6).unwrap();
        assert_eq!((r.policy_zone, r.object.as_deref()), (Some(5), Some("ovs_tp_2_icmpv6")));
        assert!(c.resolve("system", 5, L3Proto::IPV4, L4Proto::ICMPV6).is_err());
        assert!(c.resolve("system", 5, L3Proto::IPV4, L4Proto(132)).is_err());
    }

    #[test]
    fn exact_resolution_ignores_zone_zero() {
        let mut c = with_system();
        c.add_zone_tp("system", 0, tp(&["udp_single=9"]), false).unwrap();
        c.add_zone_tp("system", 5, tp(&["udp_single=1"]), false).unwrap();
        c.set_dp("system", &["resolution=exact".into()]).unwrap();
        let r = c.resolve("system", 7, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.source, r.policy_zone, r.object), (PolicySource::Default, None, None));
        let r = c.resolve("system", 5, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.source, r.object.as_deref()), (PolicySource::Own, Some("ovs_tp_2_udp4")));
        let r = c.resolve("system", 0, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.source, r.object.as_deref()), (PolicySource::Own, Some("ovs_tp_1_udp4")));
        c.set_dp("system", &["resolution=zone0-fallback".into()]).unwrap();
        let r = c.resolve("system", 7, L3Proto::IPV4, L4Proto::UDP).unwrap();
        assert_eq!((r.source, r.object.as_deref()), (PolicySource::Zone0, Some("ovs_tp_1_udp4")));
        let e = c.set_dp("system", &["resolution=zone0".into()]).unwrap_err().to_string();
        assert_eq!(e, "unknown resolution mode \"zone0\" (expected zone0-fallback or exact)");
        assert!(c
            .set_dp("system", &["colour=red".into()])
            .unwrap_err()
            .to_string()
            .contains("unknown setting"));
        assert!(c.set_dp("system", &[]).is_err());
        assert!(c
            .set_dp("netdev", &["resolution=exact".into()])
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }

    #[test]
    fn files_without_a_resolution_load_as_the_default_and_the_default_is_not_written() {
        let old = r#"{"schema_version": 1, "datapaths": {"system": {"ct_zones": {}}}}"#;
        let mut c: Config = serde_json::from_str(old).unwrap();
        assert_eq!(c.datapaths["system"].resolution, ResolutionMode::Zone0Fallback);
        assert!(!serde_json::to_string(&c).unwrap().contains("resolution"));
        c.set_dp("system", &["resolution=exact".into()]).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""resolution":"exact""#), "{text}");
        assert_eq!(serde_json::from_str::<Config>(&text).unwrap(), c);
    }

    #[test]
    fn deleting_a_datapath_retires_its_policies() {
        let mut c = with_system();
        c.add_zone_tp("system", 1, tp(&["udp_first=1"]), false).unwrap();
        c.del_dp("system", false).unwrap();
        assert!(c.timeout_policies.is_empty());
        assert!(c.retired_policy_ids.contains(&1));
        assert_eq!(c.del_dp("system", false).unwrap_err().to_string(), "datapath system does not exist");
        c.del_dp("system", true).unwrap();
    }

    #[test]
    fn validation_catches_dangling_references() {
        let mut c = with_system();
        c.add_zone_tp("system", 1, tp(&["udp_first=1"]), false).unwrap();
        c.timeout_policies.clear();
        assert!(c.validate().unwrap_err().to_string().contains("refers to timeout policy 1"));
    }

    #[test]
    fn ids_outside_1_to_max_policy_id_are_refused_by_record() {
        let read = |text: &str| {
            let c: Config = serde_json::from_str(text).unwrap();
            c.validate().err().map(|e| e.to_string())
        };
        let file = |policies: &str, retired: &str| {
            format!(
                r#"{{"schema_version": 1, "datapaths": {{}}, "timeout_policies": {{{policies}}},
                   "retired_policy_ids": [{retired}]}}"#
            )
        };
        let policy = |id: u64| format!(r#""{id}": {{"timeouts": {{"udp_single": 1}}}}"#);
        assert_eq!(read(&file(&policy(1), "2")), None);
        assert_eq!(read(&file(&policy(u64::from(MAX_POLICY_ID)), "4294967294")), None);
        for id in [0, 4294967295] {
            assert_eq!(
                read(&file(&policy(id), "")).as_deref(),
                Some(format!("timeout_policies: \"{id}\" is not a policy id (1 to 4294967294)").as_str())
            );
            assert_eq!(
                read(&file("", &id.to_string())).as_deref(),
                Some(format!("retired_policy_ids: {id} is not a policy id (1 to 4294967294)").as_str())
            );
        }
    }
}
