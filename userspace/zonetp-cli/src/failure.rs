//! How a command fails, and the exit status that says which way: 2 when
//! the command line itself is wrong (an unknown command or option, a
//! missing argument, a value that does not parse: `zone=X`, `KEY=SECONDS`
//! words, `--l3`/`--l4`, names), 1 when a well-formed command could not be
//! carried out (the file, the kernel or the datapath said no).

use std::fmt;

#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong: exit status 2.
    Usage(String),
    /// The command could not be carried out: exit status 1.
    Runtime(zonetp::Error),
}

impl From<zonetp::Error> for Failure {
    fn from(e: zonetp::Error) -> Self {
        Failure::Runtime(e)
    }
}

pub type CmdResult<T = ()> = Result<T, Failure>;

/// A usage error with the message of `e`.
pub fn usage(e: impl fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => f.write_str(m),
            Failure::Runtime(e) => e.fmt(f),
        }
    }
}
