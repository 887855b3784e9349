//! JSON-RPC 1.0 over a stream, as OVSDB speaks it (RFC 7047 section 4):
//! requests carry an id, replies echo it, notifications carry `null`.
//! Messages are concatenated JSON objects with no framing; the reader
//! finds the end of each with a [`Framer`], which scans each byte once.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::framer::{Frame, Framer};
use super::remote::{Remote, Stream};
use super::DbError;

/// How long a request may wait for its reply before the connection is
/// considered dead.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a TCP connection to come up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Connection {
    stream: Stream,
    remote: Remote,
    /// Bytes read but not yet parsed into a message.
    framer: Framer,
    next_id: u64,
    /// Notifications that arrived while a reply was awaited.
    notifications: VecDeque<Value>,
}

impl Connection {
    /// Wraps a stream the dialer connected (perhaps from another namespace).
    pub fn from_stream(stream: Stream, remote: &Remote) -> Self {
        Self {
            stream,
            remote: remote.clone(),
            framer: Framer::new(),
            next_id: 1,
            notifications: VecDeque::new(),
        }
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The error for bytes that cannot begin a JSON-RPC message (every one
    /// is a JSON object): another protocol answers there.
    fn not_json_rpc(remote: &Remote, answer: &[u8]) -> DbError {
        let line = String::from_utf8_lossy(answer);
        let line: String = line.lines().next().unwrap_or("").chars().take(60).collect();
        DbError::Protocol(format!(
            "{remote}: not an OVSDB server: it answered {line:?}, which is not JSON-RPC"
        ))
    }

    fn lost(&self, why: impl std::fmt::Display) -> DbError {
        DbError::Io(format!("connection to {} lost: {why}", self.remote))
    }

    fn send(&mut self, msg: &Value) -> Result<(), DbError> {
        let mut bytes = serde_json::to_vec(msg).expect("JSON serializes");
        // Whitespace between messages is valid JSON-RPC; the newline makes
        // a line-based server on the socket (HTTP, say) answer at once,
        // which `not_json_rpc` then recognises, rather than wait for the
        // rest of a line that never comes.
        bytes.push(b'\n');
        self.stream.write_all(&bytes).and_then(|_| self.stream.flush()).map_err(|e| self.lost(e))
    }

    /// Reads the next message, or `None` when `deadline` passes first.
    /// Echo requests from the server (its inactivity probe) are answered
    /// here.
    fn recv(&mut self, deadline: Instant) -> Result<Option<Value>, DbError> {
        loop {
            match self.framer.next_frame() {
                Some(Frame::Message(bytes)) => {
                    let msg: Value = serde_json::from_slice(bytes).map_err(|e| {
                        DbError::Protocol(format!("{}: malformed JSON-RPC message: {e}", self.remote))
                    })?;
                    if msg.get("method").and_then(Value::as_str) == Some("echo") && !msg["id"].is_null() {
                        let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
                        self.send(&reply)?;
                        continue;
                    }
                    return Ok(Some(msg));
                }
                Some(Frame::NotJsonRpc(answer)) => return Err(Self::not_json_rpc(&self.remote, answer)),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).map_err(|e| self.lost(e))?;
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                // Bytes that are not JSON-RPC were reported before this read.
                Ok(0) => return Err(self.lost("closed by the server")),
                Ok(n) => self.framer.push(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lost(e)),
            }
        }
    }

    /// Sends a request and waits for its reply; notifications that come
    /// first are kept for [`Connection::notification`].
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, DbError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let Some(msg) = self.recv(deadline)? else {
                return Err(self.lost(format!("no reply to {method} within {} s", REPLY_TIMEOUT.as_secs())));
            };
            if msg.get("method").is_some() {
                self.notifications.push_back(msg);
                continue;
            }
            if msg["id"] != json!(id) {
                continue; // a reply to a request given up on
            }
            if !msg["error"].is_null() {
                return Err(DbError::Rpc(format!("{method}: {}", error_text(&msg["error"]))));
            }
            return Ok(msg["result"].clone());
        }
    }

    /// The next notification (a message with a method and a null id), or
    /// `None` if none arrives before `deadline`.
    pub fn notification(&mut self, deadline: Instant) -> Result<Option<Value>, DbError> {
        if let Some(n) = self.notifications.pop_front() {
            return Ok(Some(n));
        }
        loop {
            match self.recv(deadline)? {
                None => return Ok(None),
                Some(msg) if msg.get("method").is_some() => return Ok(Some(msg)),
                Some(_) => continue, // a late reply
            }
        }
    }
}

/// An OVSDB error object or string as one line.
pub fn error_text(e: &Value) -> String {
    match e {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let kind = o.get("error").and_then(Value::as_str).unwrap_or("error");
            match o.get("details").and_then(Value::as_str) {
                Some(d) => format!("{kind}: {d}"),
                None => kind.to_owned(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::thread;

    /// Reads the request `zonetp` sent (one line).
    fn read_request(server: &mut UnixStream) -> Value {
        let mut line = Vec::new();
        let mut b = [0u8];
        while server.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn an_answer_that_is_not_json_rpc_is_named() {
        let (ours, mut server) = UnixStream::pair().unwrap();
        let mut c = Connection::from_stream(Stream::Unix(ours), &Remote::Unix("/test.sock".into()));
        let t = thread::spawn(move || {
            read_request(&mut server);
            server.write_all(b"\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").unwrap();
            let _ = server.read(&mut [0u8]);
        });
        let e = c.request("get_schema", json!(["Open_vSwitch"])).unwrap_err();
        drop(c);
        assert_eq!(
            e.to_string(),
            "unix:/test.sock: not an OVSDB server: it answered \"HTTP/1.1 400 Bad Request\", which is not JSON-RPC"
        );
        t.join().unwrap();
    }
}
