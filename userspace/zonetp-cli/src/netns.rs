//! `--netns NAME`, as `ip -n NAME`: the kernel side (cttimeout, datapath)
//! works in the named network namespace while connections to the database
//! are made from the namespace zonetp was started in, so one database
//! serves agents in many namespaces ("hosts").

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use std::sync::Arc;

use zonetp::ovsdb::client::direct_dialer;
use zonetp::ovsdb::remote::Stream;
use zonetp::ovsdb::{DbError, Dialer, Remote};
use zonetp::{Error, Result};

/// setns(2) into a network namespace we hold open; it changes only the
/// calling thread's namespace.
fn setns(fd: &impl AsFd, what: &str) -> std::io::Result<()> {
    nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
        let e = std::io::Error::from(e);
        std::io::Error::new(e.kind(), format!("setns into {what}: {e}"))
    })
}

/// Moves this thread (and the threads it starts later) into network
/// namespace `name` (`/run/netns/NAME`, as `ip netns add` makes it).
/// Returns a dialer that connects from the namespace we came from.
/// Refuses a name that cannot be one of `/run/netns` (a usage error).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!("invalid network namespace name {name:?}"));
    }
    Ok(())
}

pub fn enter(name: &str) -> Result<Dialer> {
    check_name(name).map_err(Error::Invalid)?;
    let path = format!("/run/netns/{name}");
    let target = File::open(&path)
        .map_err(|e| Error::Invalid(format!("network namespace {name}: cannot open {path}: {e}")))?;
    let home: OwnedFd = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::Invalid(format!("cannot open this thread's network namespace: {e}")))?
        .into();
    setns(&target, &path).map_err(|e| Error::Invalid(format!("network namespace {name}: {e}")))?;
    let home = Arc::new(home);
    Ok(Arc::new(move |remote: &Remote| {
        let home = Arc::clone(&home);
        let remote = remote.clone();
        // A short-lived thread goes back home to make the socket; the
        // socket stays in the namespace it was made in.
        std::thread::spawn(move || -> std::result::Result<Stream, DbError> {
            setns(&*home, "the caller's namespace").map_err(|e| DbError::Io(e.to_string()))?;
            direct_dialer()(&remote)
        })
        .join()
        .unwrap_or_else(|_| Err(DbError::Io("the connecting thread panicked".into())))
    }))
}
