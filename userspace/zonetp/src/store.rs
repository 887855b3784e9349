//! The configuration file: human-readable JSON, written atomically (temp
//! file, fsync, rename, fsync of the directory) under an exclusive lock so
//! concurrent commands never lose an update. A file that cannot be read is
//! reported and left untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "/var/lib/zonetp/conf.json";
pub const PATH_ENV: &str = "ZONETP_DB";

pub struct Store {
    path: PathBuf,
}

/// Holds `flock(LOCK_EX)` on the lock file until dropped.
struct Lock(#[allow(dead_code)] File);

impl Lock {
    fn take(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::Store(format!("cannot open lock file {}: {e}", path.display())))?;
        // std's File::lock is flock(LOCK_EX) on Linux, retried on EINTR.
        loop {
            match file.lock() {
                Ok(()) => return Ok(Lock(file)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Store(format!("cannot lock {}: {e}", path.display()))),
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
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Reads the configuration; a missing file is an empty configuration.
    pub fn read(&self) -> Result<Config> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(self.unreadable(e.to_string())),
        };
        let config: Config = serde_json::from_str(&text).map_err(|e| self.unreadable(e.to_string()))?;
        config.validate().map_err(|e| self.unreadable(e.to_string()))?;
        Ok(config)
    }

    fn unreadable(&self, why: String) -> Error {
        Error::Store(format!(
            "cannot read zonetp database {}: {why} (the file was left as it is)",
            self.path.display()
        ))
    }

    /// Applies `change` to the current configuration under the lock and
    /// writes the result atomically if it changed. Nothing is written when
    /// `change` fails.
    pub fn update<T>(&self, change: impl FnOnce(&mut Config) -> Result<T>) -> Result<T> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| Error::Store(format!("cannot create {}: {e}", dir.display())))?;
        }
        let _lock = Lock::take(&self.lock_path())?;
        let before = self.read()?;
        let mut config = before.clone();
        let out = change(&mut config)?;
        if config != before {
            self.write(&config)?;
        }
        Ok(out)
    }

    fn write(&self, config: &Config) -> Result<()> {
        let fail =
            |what: &str, e: io::Error| Error::Store(format!("cannot {what} {}: {e}", self.path.display()));
        let mut text = serde_json::to_string_pretty(config).expect("configuration serializes");
        text.push('\n');
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(fail("write", e));
        }
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail("sync the directory of", e))
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
        s.update(|c| c.add_dp("system", false)).unwrap();
        assert!(s.read().unwrap().datapaths.contains_key("system"));
        // A failed change writes nothing.
        assert!(s.update(|c| c.add_dp("system", false)).is_err());
        let text = fs::read_to_string(s.path()).unwrap();
        assert!(text.contains("\"schema_version\": 1"), "{text}");
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
