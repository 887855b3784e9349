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

/// How long a request may wait without a byte from the server before the
/// connection is considered dead. A reply still arriving keeps it alive,
/// however long it takes: tens of megabytes at 65,536 zones.
pub const REPLY_IDLE: Duration = Duration::from_secs(10);
/// How long a request may wait for its reply at most, data arriving or
/// not. A server that keeps the connection busy (notifications, its own
/// echo probes every few seconds) but never answers is given up after
/// this. Generous: `list-zone-tp` at 65,536 zones (a 32 MB reply) takes
/// under 4 s on a Unix socket, and 300 s leaves room for a 50 MB reply
/// over a link of under 200 kB/s, or for a slow server.
pub const REPLY_LIMIT: Duration = Duration::from_secs(300);
/// How long to wait for a TCP connection to come up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Connection {
    stream: Stream,
    remote: Remote,
    /// Bytes read but not yet parsed into a message.
    framer: Framer,
    /// When the server last showed life to a request: a byte read, or the
    /// request sent (the start of [`REPLY_IDLE`]).
    heard: Instant,
    /// [`REPLY_IDLE`] and [`REPLY_LIMIT`] (shorter in tests).
    reply_idle: Duration,
    reply_limit: Duration,
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
            heard: Instant::now(),
            reply_idle: REPLY_IDLE,
            reply_limit: REPLY_LIMIT,
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

    /// Reads the next message, or `None` when `deadline` passes first or,
    /// given `idle`, when that long passes after `self.heard` with no byte
    /// read. Echo requests from the server (its inactivity probe) are
    /// answered here.
    fn recv(&mut self, deadline: Instant, idle: Option<Duration>) -> Result<Option<Value>, DbError> {
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
            let deadline = idle.map_or(deadline, |idle| deadline.min(self.heard + idle));
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).map_err(|e| self.lost(e))?;
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                // Bytes that are not JSON-RPC were reported before this read.
                Ok(0) => return Err(self.lost("closed by the server")),
                Ok(n) => {
                    self.framer.push(&chunk[..n]);
                    self.heard = Instant::now();
                }
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
        self.heard = Instant::now();
        let limit = self.heard + self.reply_limit;
        loop {
            let Some(msg) = self.recv(limit, Some(self.reply_idle))? else {
                return Err(self.lost(if Instant::now() >= limit {
                    format!("no reply to {method} within {} s", self.reply_limit.as_secs_f64())
                } else {
                    format!("no reply to {method}: no data for {} s", self.reply_idle.as_secs_f64())
                }));
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
            match self.recv(deadline, None)? {
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

    /// A connection with short reply bounds, and the server's end.
    fn pair(idle_ms: u64, limit_ms: u64) -> (Connection, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut c = Connection::from_stream(Stream::Unix(ours), &Remote::Unix("/test.sock".into()));
        c.reply_idle = Duration::from_millis(idle_ms);
        c.reply_limit = Duration::from_millis(limit_ms);
        (c, theirs)
    }

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
    fn a_reply_still_arriving_is_waited_for() {
        // A reply in 16 pieces, one every fifth of the inactivity bound:
        // over 3 times the bound in all.
        let (mut c, mut server) = pair(500, 60_000);
        let t = thread::spawn(move || {
            let id = read_request(&mut server)["id"].clone();
            let reply =
                format!(r#"{{"id":{id},"result":[{{"rows":[{}{{}}]}}],"error":null}}"#, "{},".repeat(15));
            let reply = reply.as_bytes();
            for k in 0..16 {
                thread::sleep(Duration::from_millis(100));
                server.write_all(&reply[k * reply.len() / 16..(k + 1) * reply.len() / 16]).unwrap();
            }
            server
        });
        let started = Instant::now();
        let result = c.request("transact", json!(["Open_vSwitch"])).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(1600));
        assert_eq!(result[0]["rows"].as_array().unwrap().len(), 16);
        drop(t.join());
    }

    #[test]
    fn a_server_silent_for_the_inactivity_bound_is_given_up() {
        let (mut c, mut server) = pair(300, 60_000);
        let t = thread::spawn(move || {
            read_request(&mut server);
            // Part of a reply, then nothing until zonetp hangs up.
            server.write_all(br#"{"id":1,"result":"#).unwrap();
            let _ = server.read(&mut [0u8]);
        });
        let started = Instant::now();
        let e = c.request("transact", json!(["Open_vSwitch"])).unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(5000), "{waited:?}");
        drop(c);
        assert_eq!(
            e.to_string(),
            "connection to unix:/test.sock lost: no reply to transact: no data for 0.3 s"
        );
        t.join().unwrap();
    }

    #[test]
    fn a_server_busy_with_other_messages_is_given_up_at_the_limit() {
        // Notifications keep coming, the reply never does.
        let (mut c, mut server) = pair(1000, 2500);
        let t = thread::spawn(move || {
            read_request(&mut server);
            let note = br#"{"method":"update","params":["zonetp",{}],"id":null}"#;
            while server.write_all(note).is_ok() {
                thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let e = c.request("transact", json!(["Open_vSwitch"])).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(2500));
        assert_eq!(e.to_string(), "connection to unix:/test.sock lost: no reply to transact within 2.5 s");
        // The notifications are kept.
        assert!(c.notification(Instant::now()).unwrap().is_some());
        drop(c);
        t.join().unwrap();
    }

    #[test]
    fn an_answer_that_is_not_json_rpc_is_named() {
        let (mut c, mut server) = pair(10_000, 60_000);
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
