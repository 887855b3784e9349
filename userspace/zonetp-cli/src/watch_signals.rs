//! The signals of `sync --watch`, for both stores: read from a signalfd
//! by the main thread while a worker thread runs the sync passes, so
//! SIGINT/SIGTERM stop the watcher at once whatever the worker is doing
//! (every kernel change is idempotent: the next sync completes an
//! interrupted pass), SIGHUP asks for a pass now, and SIGUSR1 is logged
//! and ignored.

use std::os::fd::AsFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use zonetp::{Error, Result};

use crate::output::errln;

/// What the signals that came ask of the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// SIGINT or SIGTERM: stop.
    Stop,
    /// SIGHUP: sync now.
    Resync,
}

pub struct WatchSignals {
    fd: SignalFd,
}

impl WatchSignals {
    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in this thread and opens
    /// a signalfd for them. Call it before starting the worker, so the
    /// worker inherits the mask and every one of them comes here.
    pub fn block() -> Result<Self> {
        let mut signals = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGUSR1] {
            signals.add(s);
        }
        let failed = |e: nix::Error| Error::Io(e.into());
        signals.thread_block().map_err(failed)?;
        let fd =
            SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(failed)?;
        Ok(Self { fd })
    }

    /// Waits up to 100 ms for signals; a stop wins over a resync.
    pub fn wait(&self) -> Result<Option<Request>> {
        self.wait_up_to(100)
    }

    /// The signals that came, without waiting.
    pub fn poll(&self) -> Result<Option<Request>> {
        self.wait_up_to(0)
    }

    fn wait_up_to(&self, ms: u16) -> Result<Option<Request>> {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::Io(e.into())),
        }
        let mut request = None;
        while let Ok(Some(info)) = self.fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => request = request.or(Some(Request::Resync)),
                Ok(Signal::SIGUSR1) => {
                    errln!("zonetp: SIGUSR1 ignored (SIGHUP syncs now, SIGINT or SIGTERM stop)")
                }
                _ => request = Some(Request::Stop),
            }
        }
        Ok(request)
    }
}

/// Lets a pass that is almost done finish, without waiting for a long one,
/// and says how the watcher stopped.
pub fn finish(worker: &JoinHandle<()>) {
    let deadline = Instant::now() + Duration::from_millis(300);
    while !worker.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if worker.is_finished() {
        errln!("zonetp: sync --watch stopped");
    } else {
        errln!("zonetp: sync --watch stopped during a pass; the next sync completes it");
    }
}
