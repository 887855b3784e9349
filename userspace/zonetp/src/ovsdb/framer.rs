//! Where each JSON-RPC message ends in the byte stream of a connection.
//!
//! OVSDB's messages are JSON objects sent one after another with no length
//! or delimiter (RFC 7047 section 4), so the end of one is found by
//! counting brackets outside strings. The framer keeps that count, and
//! whether it is inside a string or just after a backslash, between reads:
//! each byte is examined once however many reads a message takes (a
//! `monitor` or `transact` reply at 65,536 zones is tens of megabytes).
//! Bytes of messages handed out stay in the buffer until the next
//! [`Framer::push`], which moves what is left to the front only once the
//! consumed part is at least as large, so a message costs no work in
//! proportion to what follows it.

/// A buffer this large is freed once everything in it has been handed
/// out, rather than kept for the life of the connection after one huge
/// reply.
const KEEP_CAPACITY: usize = 1 << 20;

/// What [`Framer::next_frame`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete message, from its `{` to the bracket that closes it.
    Message(&'a [u8]),
    /// Bytes that cannot begin a JSON-RPC message (every one is an
    /// object): from the first of them to the end of what arrived.
    NotJsonRpc(&'a [u8]),
}

#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where the bytes not yet handed out begin; when `depth` is 0 this is
    /// `pos` (only whitespace lies between messages), otherwise the `{`
    /// of the message being scanned.
    start: usize,
    /// The next byte to examine.
    pos: usize,
    /// Open brackets of the message being scanned; 0 between messages.
    depth: usize,
    in_string: bool,
    /// Inside a string, just after a backslash.
    escaped: bool,
    /// Bytes examined and bytes moved to the front of the buffer, since
    /// the start: what framing has cost (the tests bound them).
    examined: u64,
    moved: u64,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Drops the bytes of messages handed out: at once when nothing else
    /// is left, by moving the rest to the front when it is no larger than
    /// what is dropped (so each byte is moved at most once per byte
    /// consumed before it: linear overall).
    fn compact(&mut self) {
        let live = self.buf.len() - self.start;
        if live == 0 {
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        } else if self.start >= live {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(live);
            self.moved += live as u64;
        } else {
            return;
        }
        self.pos -= self.start;
        self.start = 0;
    }

    /// The next complete message, or the bytes that show the peer does not
    /// speak JSON-RPC, or `None` until more bytes arrive. Continues the
    /// scan where the last call stopped; a message returned is consumed.
    /// `NotJsonRpc` is returned again on every later call.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let bytes = &self.buf[..];
        let (mut depth, mut in_string, mut escaped) = (self.depth, self.in_string, self.escaped);
        let mut i = self.pos;
        let mut start = self.start;
        let mut found = None;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            if depth == 0 {
                match b {
                    b'{' => depth = 1,
                    b if b.is_ascii_whitespace() => start = i,
                    _ => {
                        // Not consumed: every later call reports it too.
                        i -= 1;
                        found = Some(false);
                        break;
                    }
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        found = Some(true);
                        break;
                    }
                }
                _ => {}
            }
        }
        self.examined += (i - self.pos) as u64;
        (self.depth, self.in_string, self.escaped) = (depth, in_string, escaped);
        self.pos = i;
        match found {
            Some(true) => {
                self.start = i;
                Some(Frame::Message(&self.buf[start..i]))
            }
            Some(false) => {
                self.start = start;
                Some(Frame::NotJsonRpc(&self.buf[i..]))
            }
            None => {
                self.start = start;
                None
            }
        }
    }

    /// Bytes scanned past so far: each byte that arrived at most once.
    pub fn bytes_examined(&self) -> u64 {
        self.examined
    }

    /// Bytes moved to the front of the buffer so far: never more than the
    /// bytes consumed.
    pub fn bytes_moved(&self) -> u64 {
        self.moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;
    use serde_json::Value;

    /// Every frame the framer finds in `chunks` fed one after another,
    /// messages as `Ok`, the rest as `Err` (ending the scan).
    fn frames(framer: &mut Framer, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, Vec<u8>>> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            loop {
                match framer.next_frame() {
                    Some(Frame::Message(m)) => out.push(Ok(m.to_vec())),
                    Some(Frame::NotJsonRpc(rest)) => {
                        out.push(Err(rest.to_vec()));
                        return out;
                    }
                    None => break,
                }
            }
        }
        out
    }

    /// Where serde_json's own stream reader ends each value of `stream`.
    fn serde_ends(stream: &[u8]) -> Vec<usize> {
        let mut values = serde_json::Deserializer::from_slice(stream).into_iter::<IgnoredAny>();
        let mut ends = Vec::new();
        while let Some(v) = values.next() {
            v.expect("valid JSON");
            ends.push(values.byte_offset());
        }
        ends
    }

    /// The messages of `stream` as serde_json reads them: each value's
    /// text, whitespace around it trimmed.
    fn serde_messages(stream: &[u8]) -> Vec<Vec<u8>> {
        let mut from = 0;
        serde_ends(stream)
            .into_iter()
            .map(|end| {
                let text = stream[from..end].trim_ascii();
                from = end;
                text.to_vec()
            })
            .collect()
    }

    #[test]
    fn messages_end_where_their_brackets_close() {
        let one = |s: &[u8]| frames(&mut Framer::new(), &[s]);
        assert_eq!(one(br#"{"a":"}"}{"b":1}"#), [Ok(br#"{"a":"}"}"#.to_vec()), Ok(br#"{"b":1}"#.to_vec())]);
        assert_eq!(one(br#"{"a":"\"}"#), []);
        assert_eq!(one(br#"{"a":"\\"}"#), [Ok(br#"{"a":"\\"}"#.to_vec())]);
        assert_eq!(one(b"  {\"a\":[1,{}]} "), [Ok(b"{\"a\":[1,{}]}".to_vec())]);
        assert_eq!(one(b"{\"a\":[1,{}]"), []);
    }

    #[test]
    fn whitespace_between_messages_is_skipped_and_anything_else_refused() {
        let stream = b" \r\n{\"id\":1}\n\t {\"id\":[2]}\nHTTP/1.1 400 Bad Request\r\n";
        let mut f = Framer::new();
        assert_eq!(
            frames(&mut f, &[stream]),
            [
                Ok(b"{\"id\":1}".to_vec()),
                Ok(b"{\"id\":[2]}".to_vec()),
                Err(b"HTTP/1.1 400 Bad Request\r\n".to_vec())
            ]
        );
        // The refusal stays, with what arrives after it.
        f.push(b"x");
        assert_eq!(f.next_frame(), Some(Frame::NotJsonRpc(b"HTTP/1.1 400 Bad Request\r\nx")));
        // JSON that is not an object cannot be JSON-RPC either.
        for other in [&b"[1]"[..], b"\"{\"", b"1", b"}", b"]"] {
            assert_eq!(frames(&mut Framer::new(), &[other]), [Err(other.to_vec())]);
        }
    }

    #[test]
    fn several_messages_in_one_chunk_match_serde_json() {
        let stream: &[u8] = br#"{"id":1,"result":[{"rows":[]}],"error":null}
{"method":"update","params":["zonetp",{"CT_Zone":{"u":{"new":{"x":"a\"]}\\"}}}}],"id":null}{"id":"echo","method":"echo","params":[]}
  {"id":3,"result":{"s":"[[[{{{\\\\\"\\"},"error":null}"#;
        let got = frames(&mut Framer::new(), &[stream]);
        let want: Vec<_> = serde_messages(stream).into_iter().map(Ok).collect();
        assert_eq!(want.len(), 4);
        assert_eq!(got, want);
    }

    /// Small messages with every hard case: escaped quotes and
    /// backslashes, brackets and braces inside strings, nesting.
    const TRICKY: &[u8] = br#"{"id":7,"result":[{"rows":[{"s":"\\","t":"\"","u":"\\\"","v":"}]{[","w":[[{}],{"x":[]}]}]}],"error":null}
 {"method":"update","params":[null,{"a":"\\\\\\\"\"]"}],"id":null}"#;

    #[test]
    fn a_message_split_anywhere_frames_the_same() {
        let want: Vec<_> = serde_messages(TRICKY).into_iter().map(Ok).collect();
        assert_eq!(want.len(), 2);
        for cut in 0..=TRICKY.len() {
            let mut f = Framer::new();
            let got = frames(&mut f, &[&TRICKY[..cut], &TRICKY[cut..]]);
            assert_eq!(got, want, "split at {cut}");
            assert_eq!(f.bytes_examined(), TRICKY.len() as u64, "split at {cut}");
        }
        for cut2 in 0..=TRICKY.len() {
            for cut1 in 0..=cut2 {
                let chunks = [&TRICKY[..cut1], &TRICKY[cut1..cut2], &TRICKY[cut2..]];
                assert_eq!(frames(&mut Framer::new(), &chunks), want, "split at {cut1} and {cut2}");
            }
        }
    }

    #[test]
    fn a_message_fed_byte_by_byte_frames_the_same() {
        let want: Vec<_> = serde_messages(TRICKY).into_iter().map(Ok).collect();
        let chunks: Vec<&[u8]> = TRICKY.chunks(1).collect();
        let mut f = Framer::new();
        assert_eq!(frames(&mut f, &chunks), want);
        assert_eq!(f.bytes_examined(), TRICKY.len() as u64);
    }

    #[test]
    fn escapes_split_across_chunks() {
        // A backslash at the end of a chunk escapes the next chunk's quote.
        let mut f = Framer::new();
        assert_eq!(frames(&mut f, &[br#"{"a":"x\"#, br#""}"#]), []);
        assert_eq!(frames(&mut f, &[br#""}"#]), [Ok(br#"{"a":"x\"}"}"#.to_vec())]);
        // An escaped backslash at the end of a chunk does not.
        let mut f = Framer::new();
        let got = frames(&mut f, &[br#"{"a":"x\\"#, br#""}"#]);
        assert_eq!(got, [Ok(br#"{"a":"x\\"}"#.to_vec())]);
        // Split between the two backslashes of an escaped backslash.
        let got = frames(&mut Framer::new(), &[br#"{"a":"\"#, br#"\"#, br#"", "b":"}"#, br#""}"#]);
        assert_eq!(got, [Ok(br#"{"a":"\\", "b":"}"}"#.to_vec())]);
    }

    /// An OVSDB-like `transact` reply of about `size` bytes: one select of
    /// rows whose strings hold escaped quotes and backslashes and
    /// brackets.
    fn big_reply(size: usize) -> Vec<u8> {
        let mut out = br#"{"id":42,"error":null,"result":[{"rows":["#.to_vec();
        let mut n = 0u32;
        while out.len() < size {
            if n > 0 {
                out.push(b',');
            }
            let row = format!(
                r#"{{"_uuid":["uuid","{n:08x}-1d7c-4c3e-9f21-5a6b7c8d9e0f"],"timeouts":["map",[["icmp_first",5],["tcp_established",3600],["udp_single",{}]]],"external_ids":["map",[["zonetp-id","{n}"],["note","zone {n}: \"quoted\", a \\ and a \\\\, ]}} {{[ and \\\"]}}\\\\"]]]}}"#,
                10 + n
            );
            out.extend_from_slice(row.as_bytes());
            n += 1;
        }
        out.extend_from_slice(b"]}]}");
        out
    }

    #[test]
    fn a_50_mb_reply_in_16_kib_reads_is_examined_once() {
        let reply = big_reply(50 << 20);
        // serde_json reads it as one value, to its last byte.
        assert_eq!(serde_ends(&reply), [reply.len()]);
        let mut f = Framer::new();
        let mut got = None;
        for chunk in reply.chunks(16 << 10) {
            assert!(got.is_none(), "a message before the last byte");
            f.push(chunk);
            if let Some(frame) = f.next_frame() {
                let Frame::Message(m) = frame else { panic!("not JSON-RPC?") };
                got = Some(m.len());
                assert!(m == &reply[..], "the message is the whole reply");
            }
        }
        assert_eq!(got, Some(reply.len()));
        // Rescanning from the start after every read would examine about
        // len * reads / 2 bytes (over 80 billion here).
        let len = reply.len() as u64;
        assert!(f.bytes_examined() + f.bytes_moved() <= 2 * len, "{} examined", f.bytes_examined());
        assert_eq!(f.bytes_examined(), len);
    }

    #[test]
    fn a_stream_of_many_messages_costs_linear_work() {
        // A big reply between notifications, in reads of a size that
        // splits messages anywhere; then many small messages in one read.
        let note =
            br#"{"method":"update","params":["zonetp",{"CT_Zone":{"u":{"new":{"n":"\"]}"}}}}],"id":null}"#;
        let mut stream = Vec::new();
        for _ in 0..1000 {
            stream.extend_from_slice(note);
            stream.push(b'\n');
        }
        stream.extend_from_slice(&big_reply(4 << 20));
        for _ in 0..100_000 {
            stream.extend_from_slice(note);
        }
        let want = serde_messages(&stream);
        assert_eq!(want.len(), 101_001);
        for read in [16 << 10, 4093, 1 << 20, stream.len()] {
            let mut f = Framer::new();
            let chunks: Vec<&[u8]> = stream.chunks(read).collect();
            let got = frames(&mut f, &chunks);
            assert!(got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| g.as_ref() == Ok(w)));
            // Dropping each message by moving the rest to the front would
            // move gigabytes here.
            let len = stream.len() as u64;
            assert_eq!(f.bytes_examined(), len, "reads of {read}");
            assert!(f.bytes_moved() <= len, "reads of {read}: {} moved", f.bytes_moved());
            assert!(f.bytes_examined() + f.bytes_moved() <= 2 * len, "reads of {read}");
        }
    }

    #[test]
    fn messages_parse_as_serde_json_parses_the_stream() {
        let stream = [TRICKY, b"\n", &big_reply(200_000), b" "].concat();
        let got = frames(&mut Framer::new(), &stream.chunks(777).collect::<Vec<_>>());
        let ours: Vec<Value> =
            got.iter().map(|m| serde_json::from_slice(m.as_ref().unwrap()).unwrap()).collect();
        let theirs: Vec<Value> =
            serde_json::Deserializer::from_slice(&stream).into_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_huge_buffer_is_freed_once_empty() {
        let reply = big_reply(2 * KEEP_CAPACITY);
        let mut f = Framer::new();
        assert_eq!(frames(&mut f, &[&reply]).len(), 1);
        f.push(b"{}");
        assert!(f.buf.capacity() < KEEP_CAPACITY);
        assert_eq!(f.next_frame(), Some(Frame::Message(b"{}")));
    }
}
