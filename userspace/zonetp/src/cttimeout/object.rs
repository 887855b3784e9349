//! A cttimeout object: a named set of per-state timeouts for one L3/L4 pair.

use std::collections::BTreeMap;
use std::fmt;

use super::proto::{L3Proto, L4Proto};
use crate::error::{Error, Result};

/// Longest name the kernel stores: `CTNL_TIMEOUT_NAME_MAX` less the NUL.
pub const NAME_MAX_LEN: usize = 31;

/// A validated object name: 1..=31 bytes, no NUL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName(String);

impl ObjectName {
    pub fn new(name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::Invalid("timeout object name is empty".into()));
        }
        if name.len() > NAME_MAX_LEN {
            return Err(Error::Invalid(format!(
                "timeout object name \"{name}\" is {} bytes long; the kernel allows at most {NAME_MAX_LEN}",
                name.len()
            )));
        }
        if name.contains('\0') {
            return Err(Error::Invalid("timeout object name contains a NUL byte".into()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Timeouts in seconds by `CTA_TIMEOUT_<PROTO>_*` attribute type. Only the
/// states present are sent; the kernel fills the others from its current
/// per-netns defaults.
pub type Timeouts = BTreeMap<u16, u32>;

/// Parses `state=seconds` words for one L4 protocol.
pub fn parse_timeouts(l4: L4Proto, words: &[String]) -> Result<Timeouts> {
    let mut out = Timeouts::new();
    for word in words {
        let (state, value) =
            word.split_once('=').ok_or_else(|| Error::Invalid(format!("\"{word}\" is not STATE=SECONDS")))?;
        let attr = l4.state_attr(state).map_err(Error::Invalid)?;
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        let seconds: u32 = value.parse().ok().filter(|_| digits).ok_or_else(|| {
            Error::Invalid(format!(
                "timeout \"{value}\" for {state} is not a whole number of seconds 0..4294967295"
            ))
        })?;
        if out.insert(attr, seconds).is_some() {
            return Err(Error::Invalid(format!("state {state} is given twice")));
        }
    }
    Ok(out)
}

/// Formats timeouts as `state=seconds` words in attribute order.
pub fn format_timeouts(l4: L4Proto, timeouts: &Timeouts) -> Vec<String> {
    timeouts
        .iter()
        .map(|(attr, secs)| match l4.state_name(*attr) {
            Some(name) => format!("{name}={secs}"),
            None => format!("{attr}={secs}"),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtTimeoutObject {
    pub name: ObjectName,
    pub l3: L3Proto,
    pub l4: L4Proto,
    pub timeouts: Timeouts,
    /// The kernel's reference count (`CTA_TIMEOUT_USE`); `None` in requests.
    pub use_count: Option<u32>,
    /// Attributes zonetp does not know (a newer kernel's), kept as they
    /// came and written back by `emit`, rather than dropped.
    pub other: Vec<OtherAttr>,
}

/// An attribute kept as it came: its type and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherAttr {
    pub kind: u16,
    pub payload: Vec<u8>,
}

impl CtTimeoutObject {
    pub fn new(name: &str, l3: L3Proto, l4: L4Proto, timeouts: Timeouts) -> Result<Self> {
        Ok(Self { name: ObjectName::new(name)?, l3, l4, timeouts, use_count: None, other: Vec::new() })
    }
}

/// The kernel keeps each timeout as `seconds * HZ` in an unsigned 32-bit
/// field and does not check for overflow, so larger values would wrap
/// silently. This is the largest value that survives on this kernel; with
/// HZ unknown, the bound of the lowest HZ Linux offers (100), so no value
/// is refused on a guess of a higher HZ.
pub fn max_timeout_seconds() -> u32 {
    u32::MAX / kernel_hz().unwrap_or(LOWEST_HZ)
}

/// The lowest CONFIG_HZ choice (kernel/Kconfig.hz).
pub const LOWEST_HZ: u32 = 100;

/// The running kernel's HZ: `ZONETP_KERNEL_HZ`, else `CONFIG_HZ` of the
/// running kernel's configuration: `/boot/config-$(uname -r)` (Debian
/// installs it with the kernel), else `/proc/config.gz` (kernels built
/// with CONFIG_IKCONFIG_PROC; read through `gzip -dc`). `None` when none
/// says.
pub fn kernel_hz() -> Option<u32> {
    if let Some(hz) = std::env::var("ZONETP_KERNEL_HZ").ok().and_then(|v| v.parse().ok()).filter(|hz| *hz > 0)
    {
        return Some(hz);
    }
    // The configuration does not change while the kernel runs: read once
    // (a gzip run per check would cost a process per command).
    static FROM_CONFIG: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *FROM_CONFIG.get_or_init(hz_from_config)
}

fn hz_from_config() -> Option<u32> {
    let hz_of = |config: &str| {
        config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")?.parse::<u32>().ok()).filter(|hz| *hz > 0)
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if let Some(hz) =
        std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok().and_then(|c| hz_of(&c))
    {
        return Some(hz);
    }
    if !std::path::Path::new("/proc/config.gz").exists() {
        return None;
    }
    let out = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    hz_of(&String::from_utf8_lossy(&out.stdout))
}

/// Refuses timeouts the kernel would wrap.
pub fn check_timeouts(l4: L4Proto, timeouts: &Timeouts, max: u32) -> Result<()> {
    for (attr, secs) in timeouts {
        if *secs > max {
            let state = l4.state_name(*attr).map(str::to_owned).unwrap_or_else(|| attr.to_string());
            let hz = u32::MAX / max.max(1);
            let hz = if hz == LOWEST_HZ && kernel_hz().is_none() {
                format!(
                    "HZ={LOWEST_HZ}, the lowest: this kernel's HZ is unknown, no /boot/config-RELEASE or \
                     /proc/config.gz; set ZONETP_KERNEL_HZ"
                )
            } else {
                format!("HZ={hz}")
            };
            return Err(Error::Invalid(format!(
                "timeout {state}={secs} is too large: the kernel stores seconds*HZ in 32 bits, \
                 so at most {max} seconds fit ({hz})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded() {
        assert!(ObjectName::new("").unwrap_err().to_string().contains("empty"));
        assert!(ObjectName::new(&"a".repeat(31)).is_ok());
        let e = ObjectName::new(&"a".repeat(32)).unwrap_err().to_string();
        assert!(e.contains("32 bytes") && e.contains("at most 31"), "{e}");
        assert!(ObjectName::new("a\0b").is_err());
    }

    #[test]
    fn timeouts_parse_and_refuse_garbage() {
        let t = parse_timeouts(L4Proto::UDP, &["replied=20".into(), "UNREPLIED=10".into()]).unwrap();
        assert_eq!(t.into_iter().collect::<Vec<_>>(), vec![(1, 10), (2, 20)]);
        assert!(parse_timeouts(L4Proto::UDP, &["replied".into()]).is_err());
        assert!(parse_timeouts(L4Proto::UDP, &["replied=-1".into()]).is_err());
        assert!(parse_timeouts(L4Proto::UDP, &["replied=+5".into()]).is_err());
        assert!(parse_timeouts(L4Proto::UDP, &["replied=4294967296".into()]).is_err());
        assert!(parse_timeouts(L4Proto::UDP, &["replied=1".into(), "replied=2".into()]).is_err());
    }

    #[test]
    fn overflow_is_refused() {
        let t: Timeouts = [(2u16, 4_294_967)].into();
        assert!(check_timeouts(L4Proto::UDP, &t, u32::MAX / 1000).is_ok());
        let t: Timeouts = [(2u16, 4_294_968)].into();
        let e = check_timeouts(L4Proto::UDP, &t, u32::MAX / 1000).unwrap_err().to_string();
        assert!(e.contains("replied=4294968") && e.contains("HZ=1000"), "{e}");
    }
}
