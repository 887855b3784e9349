//! The Open vSwitch database (OVSDB, RFC 7047) as the home of the zone
//! configuration: a small JSON-RPC client of zonetp's own (Unix and TCP
//! sockets), the `Open_vSwitch` tables that hold zone timeout policies,
//! the verbs as transactions, and a follower that keeps a live copy of
//! the tables through `monitor` across reconnects and cluster failover.

pub mod client;
pub mod datum;
pub mod follow;
pub mod framer;
pub mod index;
pub mod jsonrpc;
pub mod remote;
pub mod store;
pub mod vswitch;

pub use client::{Client, Dialer};
pub use follow::Follower;
pub use remote::{check_db_spec, is_remote_spec, parse_remotes, Remote};
pub use store::OvsdbStore;

/// What went wrong talking to a database server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The connection failed or was lost: worth another try, perhaps on
    /// another member of the cluster.
    #[error("{0}")]
    Io(String),
    /// The server answered a request with an error.
    #[error("{0}")]
    Rpc(String),
    /// The server is not what zonetp can work with (schema, replies).
    #[error("{0}")]
    Protocol(String),
    /// The server's socket refuses this user (its permissions).
    #[error("{0}")]
    Denied(String),
}

impl DbError {
    /// True for what waiting does not mend: a server that is not an
    /// Open vSwitch database zonetp can use, or whose socket this user
    /// may not open. A server not up yet, a lost connection, a cluster
    /// member cut off or behind, an error answer, may all pass.
    pub fn is_permanent(&self) -> bool {
        matches!(self, DbError::Protocol(_) | DbError::Denied(_))
    }
}

impl From<DbError> for crate::Error {
    fn from(e: DbError) -> Self {
        crate::Error::Store(format!("ovsdb: {e}"))
    }
}
