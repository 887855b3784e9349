//! OVSDB remotes as ovs-vsctl's `--db` takes them: `unix:PATH`,
//! `tcp:IP:PORT`, and a comma-separated list of them for the members of a
//! clustered database.

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::DbError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// True if `spec` names OVSDB remotes rather than a configuration file.
pub fn is_remote_spec(spec: &str) -> bool {
    ["unix:", "tcp:", "ssl:"].iter().any(|p| spec.starts_with(p))
}

/// The OVSDB remote methods zonetp connects with (`ssl:` is recognised and
/// refused as unsupported).
const METHODS: [&str; 3] = ["unix", "tcp", "ssl"];

/// Refuses a `--db` value (`what` names where it came from: `--db` or
/// `ZONETP_DB`) that is neither an OVSDB remote nor plainly a file path,
/// since a mistyped remote (`punix:/x`, `UNIX:/x`, ` unix:/x`, `,unix:/x`)
/// would otherwise be taken for a file name and `add-dp` would create
/// `./punix:/x`. The rule: a value is a remote when it starts with
/// `unix:`, `tcp:` or `ssl:`; it is refused when it is empty, starts with
/// whitespace or a comma, or starts with a word (a letter, then letters,
/// digits, `+`, `-`, `.` or `_`) followed by `:`, like a remote method;
/// anything else is a path. A path whose first component has a `:` is
/// still reachable: `./a:b`, `/abs/a:b`.
pub fn check_db_spec(spec: &str, what: &str) -> Result<(), String> {
    const FORMS: &str = "expected unix:PATH, tcp:IP:PORT (a comma-separated list of them for a \
                         cluster) or the path of a JSON file";
    if is_remote_spec(spec) {
        return Ok(());
    }
    let Some(first) = spec.chars().next() else {
        return Err(format!("{what} is empty; {FORMS}"));
    };
    if first.is_whitespace() || first == ',' {
        let start = if first == ',' { "a comma" } else { "whitespace" };
        return Err(format!("{what} \"{spec}\" starts with {start}; {FORMS}"));
    }
    if let Some((word, _)) = spec.split_once(':') {
        let is_word = word.starts_with(|c: char| c.is_ascii_alphabetic())
            && word.chars().all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c));
        if is_word {
            let hint = match word {
                w if METHODS.contains(&w.to_ascii_lowercase().as_str()) => {
                    format!("remote methods are lower case ({}:)", w.to_ascii_lowercase())
                }
                "punix" | "ptcp" | "pssl" => {
                    format!(
                        "{word}: is a server's listening (passive) remote; zonetp connects, with {}:",
                        &word[1..]
                    )
                }
                _ => format!("{word}: is no OVSDB remote method zonetp knows"),
            };
            return Err(format!(
                "{what} \"{spec}\" looks like an OVSDB remote, but {hint}; {FORMS} \
                 (a path that starts so is written ./{spec})"
            ));
        }
    }
    Ok(())
}

/// Parses `unix:PATH`, `tcp:IP:PORT` (`tcp:[IPv6]:PORT`) or a
/// comma-separated list of them.
pub fn parse_remotes(spec: &str) -> Result<Vec<Remote>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("{spec}: empty OVSDB remote in the list"));
        }
        if let Some(path) = part.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("{part}: unix: needs a socket path"));
            }
            out.push(Remote::Unix(PathBuf::from(path)));
        } else if let Some(addr) = part.strip_prefix("tcp:") {
            let addr: SocketAddr = addr.parse().map_err(|_| {
                format!("{part}: expected tcp:IP:PORT (an IPv6 address goes in brackets: tcp:[::1]:6640)")
            })?;
            out.push(Remote::Tcp(addr));
        } else if part.starts_with("ssl:") {
            return Err(format!("{part}: ssl: remotes are not supported; use unix: or tcp:"));
        } else {
            return Err(format!("{part}: not an OVSDB remote (expected unix:PATH or tcp:IP:PORT)"));
        }
    }
    Ok(out)
}

/// A connected byte stream to one remote.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn connect(remote: &Remote, timeout: Duration) -> Result<Self, DbError> {
        let fail = |e: std::io::Error| DbError::Io(format!("cannot connect to {remote}: {e}"));
        Ok(match remote {
            // Permission to connect to a socket file is its mode's (and
            // its directories'), which does not change by waiting.
            Remote::Unix(p) => Stream::Unix(UnixStream::connect(p).map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    DbError::Denied(format!("cannot connect to {remote}: {e}"))
                }
                _ => fail(e),
            })?),
            Remote::Tcp(a) => {
                let s = TcpStream::connect_timeout(a, timeout).map_err(fail)?;
                // Requests are small and answered one at a time.
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        })
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_parse_as_ovs_vsctl_takes_them() {
        assert_eq!(parse_remotes("unix:/run/db.sock").unwrap(), vec![Remote::Unix("/run/db.sock".into())]);
        let r = parse_remotes("tcp:127.0.0.1:6641,tcp:[::1]:6642").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].to_string(), "tcp:[::1]:6642");
        assert!(parse_remotes("tcp:localhost").unwrap_err().contains("expected tcp:IP:PORT"));
        assert!(parse_remotes("ssl:1.2.3.4:6640").unwrap_err().contains("not supported"));
        assert!(parse_remotes("unix:").is_err());
        assert!(parse_remotes("tcp:1.2.3.4:1,").is_err());
        assert!(is_remote_spec("tcp:1.2.3.4:1") && !is_remote_spec("/var/lib/zonetp/conf.json"));
    }

    #[test]
    fn mistyped_remotes_are_not_paths() {
        for ok in
            ["unix:/x", "tcp:1.2.3.4:1", "conf.json", "/var/lib/zonetp/conf.json", "./a:b", "/a:b", "dir/a:b"]
        {
            assert_eq!(check_db_spec(ok, "--db"), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("punix:/x", "punix: is a server's listening (passive) remote; zonetp connects, with unix:"),
            ("ptcp:6640", "with tcp:"),
            ("UNIX:/x", "remote methods are lower case (unix:)"),
            ("Tcp:1.2.3.4:1", "(tcp:)"),
            ("file:conf.json", "file: is no OVSDB remote method"),
            ("a:b", "written ./a:b"),
            (" unix:/x", "starts with whitespace"),
            ("\tconf.json", "starts with whitespace"),
            (",unix:/x", "starts with a comma"),
            ("", "--db is empty"),
        ] {
            let e = check_db_spec(bad, "--db").unwrap_err();
            assert!(e.contains(says) && e.contains("expected unix:PATH, tcp:IP:PORT"), "{bad:?}: {e}");
        }
    }
}
