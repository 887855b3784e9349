//! A cttimeout object: a named set of per-state timeouts for one L3/L4 pair.

use std::collections::BTreeMap;
use std::fmt;

use super::proto::{L3Proto, L4Proto};
use crate::error::{Error, Result};

/// Longest name the kernel stores: `CTNL_TIMEOUT_NAME_MAX` less the NUL.
pub const NAME_MAX_LEN: usize = 31;

/// An object name: bytes, as the kernel keeps them. Names zonetp makes or
/// is given are checked ([`ObjectName::new`], [`ObjectName::from_bytes`]);
/// names the kernel reports are taken as they are
/// ([`ObjectName::from_kernel`]), since another tool (`nfct`) may have made
/// one zonetp would refuse (not UTF-8, empty), and such an object must not
/// stop zonetp from listing or syncing the others. `Display` shows the name
/// escaped (see [`escape_name`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName(Vec<u8>);

impl ObjectName {
    pub fn new(name: &str) -> Result<Self> {
        Self::from_bytes(name.as_bytes())
    }

    /// A name given as bytes (a command-line argument need not be UTF-8).
    pub fn from_bytes(name: &[u8]) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::Invalid("timeout object name is empty".into()));
        }
        if name.len() > NAME_MAX_LEN {
            return Err(Error::Invalid(format!(
                "timeout object name \"{}\" is {} bytes long; the kernel allows at most {NAME_MAX_LEN}",
                escape_name(name),
                name.len()
            )));
        }
        if name.contains(&0) {
            return Err(Error::Invalid("timeout object name contains a NUL byte".into()));
        }
        Ok(Self(name.to_owned()))
    }

    /// A name to reach an existing object by (`timeout get`, `timeout
    /// delete`): as [`ObjectName::from_bytes`], but the empty name is
    /// taken, since other tools make objects with it and the kernel finds
    /// them by it (the request still carries the name attribute, so a
    /// delete never becomes a delete-all).
    pub fn existing(name: &[u8]) -> Result<Self> {
        if name.is_empty() {
            return Ok(Self(Vec::new()));
        }
        Self::from_bytes(name)
    }

    /// A name as the kernel reported it, unchecked.
    pub fn from_kernel(name: &[u8]) -> Self {
        Self(name.to_owned())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, when it is UTF-8 (every name zonetp makes is).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_name(&self.0))
    }
}

/// An object name as text output shows it: printable UTF-8 as it is;
/// `\\` for a backslash; `\n`, `\t`, `\r`; `\xNN` for each byte (of its
/// UTF-8 encoding) of every other control character, every whitespace
/// character (a space is `\x20`), `'` (`\x27`) and `"` (`\x22`), and for
/// every byte that is not part of valid UTF-8. The result is one word on
/// one line with no quote in it (so a message can quote it, and `""`, the
/// text form of the empty name, is no other name's), and bash's
/// `printf '%b'` and `$'...'` read it back to the exact bytes.
pub fn escape_name(name: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() || c.is_whitespace() || c == '\'' || c == '"' => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
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
/// HZ unknown, the bound of the highest HZ the architecture offers (1000
/// but on mips), the strictest: the bound of a lower HZ would take values
/// a kernel of a higher one wraps.
pub fn max_timeout_seconds() -> u32 {
    u32::MAX / kernel_hz().unwrap_or(HIGHEST_HZ)
}

/// The CONFIG_HZ values a kernel of this architecture can have, lowest
/// first: kernel/Kconfig.hz's on most, arm's and mips's own choices there
/// (arch/*/Kconfig).
pub const HZ_CHOICES: &[u32] = if cfg!(target_arch = "arm") {
    &[100, 128, 200, 250, 300, 500, 1000]
} else if cfg!(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "mips32r6",
    target_arch = "mips64r6"
)) {
    &[24, 48, 100, 128, 250, 256, 1000, 1024]
} else {
    &[100, 250, 300, 1000]
};

/// The highest of [`HZ_CHOICES`], whose bound applies when HZ is unknown.
pub const HIGHEST_HZ: u32 = HZ_CHOICES[HZ_CHOICES.len() - 1];

/// The environment variable that gives the kernel's HZ.
pub const HZ_ENV: &str = "ZONETP_KERNEL_HZ";

/// `ZONETP_KERNEL_HZ`: `None` when unset; an error unless it is one of
/// [`HZ_CHOICES`] (a typo must not move the bound).
pub fn hz_override() -> std::result::Result<Option<u32>, String> {
    let Some(v) = std::env::var_os(HZ_ENV) else { return Ok(None) };
    match v.to_str().and_then(|s| s.parse::<u32>().ok()) {
        Some(hz) if HZ_CHOICES.contains(&hz) => Ok(Some(hz)),
        _ => {
            let choices: Vec<String> = HZ_CHOICES.iter().map(u32::to_string).collect();
            Err(format!(
                "{HZ_ENV}={} is not a tick rate a Linux kernel of this architecture can have \
                 (CONFIG_HZ is one of {})",
                v.to_string_lossy(),
                choices.join(", ")
            ))
        }
    }
}

/// The running kernel's HZ: `ZONETP_KERNEL_HZ`, else `CONFIG_HZ` of the
/// running kernel's configuration: `/boot/config-$(uname -r)` (Debian
/// installs it with the kernel), else `/proc/config.gz` (kernels built
/// with CONFIG_IKCONFIG_PROC). `None` when none says (an invalid
/// `ZONETP_KERNEL_HZ` says nothing; the command refuses it first).
pub fn kernel_hz() -> Option<u32> {
    if let Ok(Some(hz)) = hz_override() {
        return Some(hz);
    }
    // The configuration does not change while the kernel runs: read once
    // (a gzip run per check would cost a process per command).
    static FROM_CONFIG: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *FROM_CONFIG.get_or_init(hz_from_config)
}

/// Where gzip is looked for: by absolute path only, so neither `PATH` nor
/// the working directory chooses the program root runs.
const GZIP: [&str; 2] = ["/usr/bin/gzip", "/bin/gzip"];

fn hz_from_config() -> Option<u32> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if let Some(hz) =
        std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok().and_then(|c| config_hz(&c))
    {
        return Some(hz);
    }
    if !std::path::Path::new("/proc/config.gz").exists() {
        return None;
    }
    // No gzip decoder among the dependencies: gzip itself, with an empty
    // environment (GZIP= would add options).
    let gzip = GZIP.iter().find(|p| std::path::Path::new(p).is_file())?;
    let out = std::process::Command::new(gzip)
        .args(["-dc", "/proc/config.gz"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    config_hz(&String::from_utf8_lossy(&out.stdout))
}

/// `CONFIG_HZ` of a kernel configuration's text.
fn config_hz(config: &str) -> Option<u32> {
    config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")?.parse::<u32>().ok()).filter(|hz| *hz > 0)
}

/// The HZ a bound of `max_seconds` was computed with, in words for a
/// refusal: says when it is the strictest one, HZ being unknown.
pub fn hz_words(max_seconds: u32) -> String {
    let hz = u32::MAX / max_seconds.max(1);
    if hz == HIGHEST_HZ && kernel_hz().is_none() {
        format!(
            "HZ={HIGHEST_HZ}, the highest a kernel may have: this kernel's HZ is unknown, no \
             /boot/config-RELEASE or /proc/config.gz; set {HZ_ENV}"
        )
    } else {
        format!("HZ={hz}")
    }
}

/// Refuses timeouts the kernel would wrap.
pub fn check_timeouts(l4: L4Proto, timeouts: &Timeouts, max: u32) -> Result<()> {
    for (attr, secs) in timeouts {
        if *secs > max {
            let state = l4.state_name(*attr).map(str::to_owned).unwrap_or_else(|| attr.to_string());
            return Err(Error::Invalid(format!(
                "timeout {state}={secs} is too large: the kernel stores seconds*HZ in 32 bits, \
                 so at most {max} seconds fit ({})",
                hz_words(max)
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
        assert!(ObjectName::from_bytes(b"bad\xff").is_ok());
        assert_eq!(ObjectName::existing(b"").unwrap().as_bytes(), b"");
        assert!(ObjectName::existing(&[b'a'; 32]).is_err());
        assert!(ObjectName::existing(b"a\0").is_err());
    }

    #[test]
    fn names_are_shown_escaped_and_read_back() {
        assert_eq!(escape_name(b"ovs_tp_1_udp4"), "ovs_tp_1_udp4");
        assert_eq!(escape_name(b"bad\xff"), "bad\\xff");
        assert_eq!(escape_name("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape_name(b"a\\b\nc\t\x1b\x7f"), "a\\\\b\\nc\\t\\x1b\\x7f");
        // A C1 control character: its two UTF-8 bytes, so it reads back
        // as itself and not as the lone byte 0x85.
        assert_eq!(escape_name("x\u{85}".as_bytes()), "x\\xc2\\x85");
        assert_eq!(escape_name(b"x\x85"), "x\\x85");
        assert_eq!(ObjectName::from_kernel(b"bad\xff").to_string(), "bad\\xff");
        assert_eq!(ObjectName::from_kernel(b"bad\xff").to_str(), None);
        // One word, no quotes: whitespace and quotes are escaped too.
        assert_eq!(escape_name(b"it's a \"x\""), "it\\x27s\\x20a\\x20\\x22x\\x22");
        assert_eq!(escape_name("a\u{a0}b".as_bytes()), "a\\xc2\\xa0b");
        assert_eq!(escape_name(b"\"\""), "\\x22\\x22", "not the empty name's \"\"");
    }

    #[test]
    fn escaped_names_read_back_with_bash() {
        let name: &[u8] = b"it's \"q\" \\ \n\t\r\x1b\xff\xc2\xa0";
        let escaped = escape_name(name);
        for script in [r#"printf '%b' "$1""#, r#"eval "printf '%s' \$'$1'""#] {
            let out = std::process::Command::new("bash").args(["-c", script, "-", &escaped]).output();
            let Ok(out) = out else { return }; // no bash: nothing to check against
            assert_eq!(out.stdout, name, "{script} {escaped}");
        }
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

    #[test]
    fn unknown_hz_bounds_as_the_highest_hz_does() {
        // Every HZ a kernel may have takes the bound of the highest.
        assert_eq!(HIGHEST_HZ, *HZ_CHOICES.iter().max().unwrap());
        #[cfg(target_arch = "x86_64")]
        assert_eq!((HZ_CHOICES, HIGHEST_HZ), (&[100, 250, 300, 1000][..], 1000));
        for hz in HZ_CHOICES {
            assert!(u64::from(u32::MAX / HIGHEST_HZ) * u64::from(*hz) <= u64::from(u32::MAX), "{hz}");
        }
        assert_eq!(config_hz("# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n"), Some(250));
        assert_eq!(config_hz("CONFIG_HZ=0\n"), None);
        assert_eq!(config_hz(""), None);
        assert!(GZIP.iter().all(|p| p.starts_with('/')));
    }
}
