//! The configuration file: human-readable JSON, written atomically (temp
//! file, fsync, rename, fsync of the directory) under an exclusive lock so
//! concurrent commands never lose an update. A file that cannot be read is
//! reported and left untouched.
//!
//! Writes go through a symbolic link to the file it names and keep the
//! file's mode and owner. A change is tried on the current contents first,
//! without the lock: a command that fails, or that changes nothing, creates
//! no directory, lock file or temporary file and needs no write access.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::config::Config;
use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "/var/lib/zonetp/conf.json";
pub const PATH_ENV: &str = "ZONETP_DB";

/// Symbolic links followed before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

pub struct Store {
    path: PathBuf,
    /// Ids a new policy must not get (kernel objects present; see
    /// [`crate::zone_store::ZoneStore::reserve_ids`]).
    reserved_ids: std::cell::RefCell<std::collections::BTreeSet<u32>>,
}

/// Holds `flock(LOCK_EX)` on the lock file until dropped.
pub(crate) struct Lock(#[allow(dead_code)] Flock<File>);

impl Lock {
    /// Takes the lock on `path`, creating the file when missing. A store
    /// shared by a group: a lock file this process creates gets the store
    /// file's group and its read/write bits (`like`), so every member can
    /// open it; one that still cannot be opened for writing (made by an
    /// older zonetp, 0644) is locked through a read-only descriptor, which
    /// flock(2) allows.
    ///
    /// The directory may be writable by others (a group), so the path is
    /// never followed when it is a symbolic link (`O_NOFOLLOW`: refused,
    /// naming it), anything but a regular file is refused, and only a file
    /// this process has just created (`O_CREAT|O_EXCL`), still a regular
    /// file with one link, is given a group or mode: a planted link or
    /// hard link to another file never makes this process change that file.
    pub(crate) fn take(path: &Path, like: Option<&fs::Metadata>) -> Result<Self> {
        let mode = like.map_or(0o644, |m| m.mode() & 0o666);
        let failed = |e: io::Error| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::Store(format!(
                    "cannot open lock file {}: it is a symbolic link; refusing to follow it (remove it)",
                    path.display()
                ))
            } else {
                Error::Store(format!("cannot open lock file {}: {e}", path.display()))
            }
        };
        // O_NONBLOCK: a FIFO planted there must not make the open wait.
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let mut file = None;
        for _ in 0..MAX_LINKS {
            let created =
                OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(flags).open(path);
            match created {
                Ok(f) => {
                    // Only the lock's creator may need this; umask may
                    // have taken the group's write bit, and the group is
                    // the creator's rather than the store's. Best effort:
                    // a member who cannot open it for writing still locks
                    // it read-only.
                    let own = f.metadata().map_err(failed)?;
                    if let Some(m) = like.filter(|_| own.is_file() && own.nlink() == 1) {
                        if own.gid() != m.gid() {
                            let _ = std::os::unix::fs::fchown(&f, None, Some(m.gid()));
                        }
                        if own.mode() & 0o666 != mode {
                            let _ = f.set_permissions(Permissions::from_mode(mode));
                        }
                    }
                    file = Some(f);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(failed(e)),
            }
            // It exists: open it as it is, changing nothing about it.
            let opened = OpenOptions::new().write(true).custom_flags(flags).open(path);
            let opened = match opened {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    OpenOptions::new().read(true).custom_flags(flags).open(path)
                }
                r => r,
            };
            match opened {
                Ok(f) => {
                    file = Some(f);
                    break;
                }
                // Removed in between: create it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(e)),
            }
        }
        let mut file = file.ok_or_else(|| failed(io::Error::other("it keeps appearing and vanishing")))?;
        let own = file.metadata().map_err(failed)?;
        if !own.is_file() {
            return Err(Error::Store(format!(
                "cannot open lock file {}: it is not a regular file",
                path.display()
            )));
        }
        // flock(LOCK_EX), retried on EINTR (nix's Flock rather than std's
        // File::lock, which needs Rust 1.89: Debian 13 builds with 1.85).
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(Lock(lock)),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => {
                    let e = io::Error::from(e);
                    return Err(Error::Store(format!("cannot lock {}: {e}", path.display())));
                }
            }
        }
    }
}

impl Store {
    /// `explicit`, else `$ZONETP_DB`, else the default path.
    pub fn locate(explicit: Option<&Path>) -> Self {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(PATH_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        Self { path, reserved_ids: Default::default() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn reserve_ids(&self, ids: std::collections::BTreeSet<u32>) {
        *self.reserved_ids.borrow_mut() = ids;
    }

    pub fn reserved_ids(&self) -> std::collections::BTreeSet<u32> {
        self.reserved_ids.borrow().clone()
    }

    /// The file the path names once symbolic links are followed (the path
    /// itself when it is not a link, or when nothing is there yet).
    fn target(&self) -> Result<PathBuf> {
        let mut path = self.path.clone();
        for _ in 0..MAX_LINKS {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    let link = fs::read_link(&path).map_err(|e| self.unreadable(e.to_string()))?;
                    path = match path.parent() {
                        Some(dir) if link.is_relative() => dir.join(link),
                        _ => link,
                    };
                }
                _ => return Ok(path),
            }
        }
        Err(self.unreadable("too many levels of symbolic links".into()))
    }

    fn sibling(path: &Path, suffix: &str) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    }

    /// Reads the configuration; `None` when the file does not exist.
    pub fn load(&self) -> Result<Option<Config>> {
        self.read_text()?.map(|text| self.parse(&text)).transpose()
    }

    /// The file's bytes; `None` when it does not exist. Anything but a
    /// regular file is refused, saying what it is: a FIFO would make the
    /// read wait for a writer forever, a device would be read as
    /// configuration. The file is opened with `O_NONBLOCK` (so opening a
    /// FIFO does not wait either) and its type taken from the open file
    /// (`fstat`), so nothing can be swapped in between check and read.
    fn read_text(&self) -> Result<Option<String>> {
        let opened = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&self.path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                // A socket cannot be opened at all (ENXIO): name what it is
                // rather than the errno.
                return Err(match fs::metadata(&self.path) {
                    Ok(m) if !m.is_file() => self.not_regular(m.file_type()),
                    _ => self.unreadable(e.to_string()),
                });
            }
        };
        let m = file.metadata().map_err(|e| self.unreadable(e.to_string()))?;
        if !m.is_file() {
            return Err(self.not_regular(m.file_type()));
        }
        let mut text = String::new();
        (&file).read_to_string(&mut text).map_err(|e| self.unreadable(e.to_string()))?;
        Ok(Some(text))
    }

    fn not_regular(&self, t: fs::FileType) -> Error {
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO (named pipe)"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else {
            "not a regular file"
        };
        self.unreadable(format!("it is {what}; the configuration must be a regular file"))
    }

    fn parse(&self, text: &str) -> Result<Config> {
        // serde_json keeps the last of duplicate keys of a map: a file
        // edited by hand (a zone pasted twice) would lose one silently.
        serde_json::from_str::<NoDuplicateKeys>(text).map_err(|e| self.unreadable(e.to_string()))?;
        let config: Config = serde_json::from_str(text).map_err(|e| self.unreadable(e.to_string()))?;
        config.validate().map_err(|e| self.unreadable(e.to_string()))?;
        Ok(config)
    }

    /// Reads the configuration; a missing file is an empty configuration
    /// (for the commands that only look at it; `sync` uses [`Store::load`]).
    pub fn read(&self) -> Result<Config> {
        Ok(self.load()?.unwrap_or_default())
    }

    fn unreadable(&self, why: String) -> Error {
        Error::Store(format!(
            "cannot read zonetp database {}: {why} (the file was left as it is)",
            self.path.display()
        ))
    }

    /// Applies `change` to the current configuration and writes the result
    /// atomically if it changed. The change is tried first without the
    /// lock; only a change that succeeds and alters the configuration takes
    /// the lock and is written. If another writer changed the file in
    /// between, the change is applied again to the file as it is then.
    /// Nothing is created or written when `change` fails.
    pub fn update<T>(&self, mut change: impl FnMut(&mut Config) -> Result<T>) -> Result<T> {
        let text = self.read_text()?;
        let before = text.as_deref().map(|t| self.parse(t)).transpose()?.unwrap_or_default();
        let mut config = before.clone();
        let out = change(&mut config)?;
        if config == before {
            return Ok(out);
        }
        let target = self.target()?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| Error::Store(format!("cannot create {}: {e}", dir.display())))?;
        }
        let _lock = Lock::take(&Self::sibling(&target, ".lock"), fs::metadata(&target).ok().as_ref())?;
        // The same bytes as before the lock: the change made above stands
        // (parsing a file of thousands of zones again would be most of a
        // command's time).
        let now = self.read_text()?;
        if now == text {
            self.write(&target, &config)?;
            return Ok(out);
        }
        let before = now.as_deref().map(|t| self.parse(t)).transpose()?.unwrap_or_default();
        let mut config = before.clone();
        let out = change(&mut config)?;
        if config != before {
            self.write(&target, &config)?;
        }
        Ok(out)
    }

    /// Writes `config` to `target` under the lock: temp file, fsync, rename,
    /// fsync of the directory. The temp file gets the old file's mode,
    /// group and owner, as far as the writer may give them: a group member
    /// who is not the owner cannot give the file back to its owner, but
    /// keeps its group and mode, so the other members can still write. A
    /// group it cannot keep is refused (the others would be locked out).
    /// Temp files left by writers that were killed are removed: a writer
    /// holds the lock, so any that exist now belong to dead ones.
    fn write(&self, target: &Path, config: &Config) -> Result<()> {
        let mut text = serde_json::to_string_pretty(config).expect("configuration serializes");
        text.push('\n');
        let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        remove_stale_temp_files(dir, target);
        let old = fs::metadata(target).ok();
        // Each step says what failed on which file.
        let step = |what: String| move |e: io::Error| format!("{what}: {e}");
        let (mut f, tmp) = create_temp(target).map_err(|(tmp, e)| {
            Error::Store(format!("cannot write {}: create {}: {e}", self.path.display(), tmp.display()))
        })?;
        let result = (|| -> std::result::Result<(), String> {
            if let Some(m) = &old {
                keep_owner(&f, m).map_err(step(format!("chown {}", tmp.display())))?;
                f.set_permissions(Permissions::from_mode(m.mode() & 0o7777))
                    .map_err(step(format!("chmod {}", tmp.display())))?;
            }
            f.write_all(text.as_bytes()).map_err(step(format!("write {}", tmp.display())))?;
            f.sync_all().map_err(step(format!("fsync {}", tmp.display())))?;
            fs::rename(&tmp, target).map_err(step(format!(
                "rename {} to {}",
                tmp.display(),
                target.display()
            )))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Store(format!("cannot write {}: {e}", self.path.display())));
        }
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
            Error::Store(format!(
                "cannot write {}: fsync of directory {}: {e}",
                self.path.display(),
                dir.display()
            ))
        })
    }
}

/// Creates `<target>.tmp.<pid>` (or, when that name is taken,
/// `<target>.tmp.<pid><digits>`) with `O_CREAT|O_EXCL|O_NOFOLLOW`: the
/// directory may be writable by others, so nothing planted at the name (a
/// symbolic link to another file, a hard link) is ever opened, written,
/// chowned or chmodded; a taken name is skipped. The file is new, empty,
/// regular and has one link. On error, the last name tried.
fn create_temp(target: &Path) -> std::result::Result<(File, PathBuf), (PathBuf, io::Error)> {
    let pid = std::process::id();
    let mut tmp = Store::sibling(target, &format!(".tmp.{pid}"));
    for attempt in 0u32..100 {
        if attempt > 0 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            tmp = Store::sibling(target, &format!(".tmp.{pid}{attempt}{nanos}"));
        }
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        match opened {
            Ok(f) => match f.metadata() {
                Ok(m) if m.is_file() && m.nlink() == 1 && m.len() == 0 => return Ok((f, tmp)),
                Ok(_) => return Err((tmp, io::Error::other("not a new regular file; refusing it"))),
                Err(e) => return Err((tmp, e)),
            },
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err((tmp, e)),
        }
    }
    Err((tmp, io::Error::other("every temporary name tried is taken")))
}

/// Gives `f` (just created by this process) the owner and group of `m`:
/// only what differs, the group alone when the owner cannot be given
/// (only root may give a file away). Fails when the group cannot be kept.
fn keep_owner(f: &File, m: &fs::Metadata) -> io::Result<()> {
    let own = f.metadata()?;
    if own.uid() == m.uid() && own.gid() == m.gid() {
        return Ok(());
    }
    match std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid())) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && own.uid() != m.uid() => {
            if own.gid() == m.gid() {
                return Ok(());
            }
            std::os::unix::fs::fchown(f, None, Some(m.gid())).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("group {}, the store's, cannot be kept (not a group of this user): {e}", m.gid()),
                )
            })
        }
        r => r,
    }
}

/// Any JSON value whose objects have no key twice; deserializing fails
/// at the second one, naming it (serde_json adds the line and column).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

/// Removes `<file>.tmp.<pid>` files of `target` in `dir`.
fn remove_stale_temp_files(dir: &Path, target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!("{name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if n.strip_prefix(&prefix)
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("zonetp-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Store::locate(Some(&dir.join("conf.json")))
    }

    #[test]
    fn missing_file_reads_empty_and_updates_persist() {
        let s = temp_store("persist");
        assert_eq!(s.read().unwrap(), Config::default());
        assert_eq!(s.load().unwrap(), None);
        s.update(|c| c.add_dp("system", false)).unwrap();
        assert!(s.read().unwrap().datapaths.contains_key("system"));
        // A failed change writes nothing.
        assert!(s.update(|c| c.add_dp("system", false)).is_err());
        let text = fs::read_to_string(s.path()).unwrap();
        assert!(text.contains("\"schema_version\": 1"), "{text}");
    }

    #[test]
    fn a_failed_or_empty_change_creates_nothing() {
        let s = temp_store("nothing");
        let dir = s.path().parent().unwrap().to_owned();
        assert!(s.update(|c| c.add_zone_tp("system", 1, Default::default(), false)).is_err());
        s.update(|c| c.del_dp("system", true)).unwrap();
        assert!(!dir.exists(), "no directory, lock or file");
    }

    #[test]
    fn duplicate_keys_are_refused_by_name_and_place() {
        let s = temp_store("duplicate");
        s.update(|c| c.add_dp("system", false)).unwrap();
        let good = fs::read_to_string(s.path()).unwrap();
        let bad = good.replacen("\"datapaths\": {", "\"datapaths\": {\n    \"system\": {},", 1);
        fs::write(s.path(), &bad).unwrap();
        let e = s.read().unwrap_err().to_string();
        assert!(e.contains("duplicate key \"system\" at line "), "{e}\n{bad}");
        assert!(s.update(|c| c.add_dp("x", false)).is_err());
        assert_eq!(fs::read_to_string(s.path()).unwrap(), bad, "left untouched");
    }

    #[test]
    fn stale_temp_files_are_removed_by_the_next_write() {
        let s = temp_store("stale");
        s.update(|c| c.add_dp("system", false)).unwrap();
        let dir = s.path().parent().unwrap().to_owned();
        fs::write(dir.join("conf.json.tmp.4242"), "half").unwrap();
        fs::write(dir.join("conf.json.tmp.notapid"), "mine").unwrap();
        s.update(|c| c.add_dp("netdev", false)).unwrap();
        assert!(!dir.join("conf.json.tmp.4242").exists());
        assert!(dir.join("conf.json.tmp.notapid").exists(), "only <file>.tmp.<pid> names go");
    }

    #[test]
    fn a_planted_temp_name_is_skipped_and_its_target_untouched() {
        let s = temp_store("planted-temp");
        s.update(|c| c.add_dp("system", false)).unwrap();
        let dir = s.path().parent().unwrap().to_owned();
        let victim = dir.join("victim");
        fs::write(&victim, "secret").unwrap();
        fs::set_permissions(&victim, Permissions::from_mode(0o600)).unwrap();
        let planted = dir.join(format!("conf.json.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let (f, tmp) = create_temp(s.path()).unwrap();
        assert_ne!(tmp, planted, "the planted name is skipped");
        assert_eq!(f.metadata().unwrap().len(), 0);
        assert!(fs::symlink_metadata(&tmp).unwrap().is_file());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret");
        fs::remove_file(&tmp).unwrap();
        // A write through the whole path: the stale name (a link) is
        // removed, the victim is left as it was.
        s.update(|c| c.add_dp("netdev", false)).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o600);
        assert!(s.read().unwrap().datapaths.contains_key("netdev"));
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_by_name() {
        let s = temp_store("planted-lock");
        s.update(|c| c.add_dp("system", false)).unwrap();
        let dir = s.path().parent().unwrap().to_owned();
        let victim = dir.join("victim");
        fs::write(&victim, "secret").unwrap();
        fs::set_permissions(&victim, Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(s.path(), Permissions::from_mode(0o664)).unwrap();
        let lock = dir.join("conf.json.lock");
        fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        let e = s.update(|c| c.add_dp("netdev", false)).unwrap_err().to_string();
        assert!(e.contains(&format!("lock file {}", lock.display())) && e.contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o600, "mode untouched");
        assert!(!s.read().unwrap().datapaths.contains_key("netdev"), "nothing written");
    }

    #[test]
    fn garbage_and_truncated_files_are_reported_and_kept() {
        let s = temp_store("garbage");
        s.update(|c| c.add_dp("system", false)).unwrap();
        let good = fs::read_to_string(s.path()).unwrap();
        for bad in [&good[..good.len() / 2], "", "\u{0}\u{1}binary", "{\"schema_version\": 99}"] {
            fs::write(s.path(), bad).unwrap();
            let e = s.read().unwrap_err().to_string();
            assert!(e.starts_with("cannot read zonetp database"), "{e}");
            assert!(s.update(|c| c.add_dp("x", false)).is_err());
            assert_eq!(fs::read_to_string(s.path()).unwrap(), bad, "left untouched");
        }
    }
}
