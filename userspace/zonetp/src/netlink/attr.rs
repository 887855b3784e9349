//! Netlink attributes (`struct nlattr`): a writer that appends them to a
//! message buffer and an iterator that reads them back.

use super::ParseError;

pub const NLA_HDRLEN: usize = 4;
pub const NLA_F_NESTED: u16 = 1 << 15;
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the 4-byte netlink alignment.
pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends attributes to a message buffer, padding each to 4 bytes.
pub struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

/// Where a nested attribute started, to patch its length on close.
#[must_use = "a nest must be closed with AttrWriter::nest_end"]
pub struct Nest(usize);

impl<'a> AttrWriter<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }

    pub fn put(&mut self, kind: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        assert!(len <= u16::MAX as usize, "netlink attribute too long");
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    pub fn put_u8(&mut self, kind: u16, v: u8) {
        self.put(kind, &[v]);
    }
    pub fn put_u16(&mut self, kind: u16, v: u16) {
        self.put(kind, &v.to_ne_bytes());
    }
    pub fn put_u32(&mut self, kind: u16, v: u32) {
        self.put(kind, &v.to_ne_bytes());
    }
    pub fn put_u64(&mut self, kind: u16, v: u64) {
        self.put(kind, &v.to_ne_bytes());
    }
    pub fn put_be16(&mut self, kind: u16, v: u16) {
        self.put(kind, &v.to_be_bytes());
    }
    pub fn put_be32(&mut self, kind: u16, v: u32) {
        self.put(kind, &v.to_be_bytes());
    }
    pub fn put_flag(&mut self, kind: u16) {
        self.put(kind, &[]);
    }
    /// A NUL-terminated string (`NLA_NUL_STRING`).
    pub fn put_cstr(&mut self, kind: u16, s: &str) {
        self.put_cbytes(kind, s.as_bytes());
    }
    /// A NUL-terminated string of any bytes: the kernel's strings are
    /// bytes, not necessarily UTF-8.
    pub fn put_cbytes(&mut self, kind: u16, s: &[u8]) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s);
        v.push(0);
        self.put(kind, &v);
    }

    /// Opens a nested attribute. `flagged` sets `NLA_F_NESTED`, as libmnl
    /// and the kernel's `nla_nest_start` do; OVS's own netlink code leaves it
    /// out. The kernel accepts both on the attributes zonetp sends.
    pub fn nest_start(&mut self, kind: u16, flagged: bool) -> Nest {
        let start = self.buf.len();
        let kind = if flagged { kind | NLA_F_NESTED } else { kind };
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        Nest(start)
    }

    pub fn nest_end(&mut self, nest: Nest) {
        let len = self.buf.len() - nest.0;
        assert!(len <= u16::MAX as usize, "netlink nest too long");
        self.buf[nest.0..nest.0 + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }
}

/// One attribute as read from a message.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    /// The type with the NESTED and NET_BYTEORDER flags masked off.
    pub kind: u16,
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    fn exact<const N: usize>(&self) -> Result<[u8; N], ParseError> {
        self.payload.try_into().map_err(|_| ParseError::AttrSize {
            kind: self.kind,
            got: self.payload.len(),
            want: N,
        })
    }
    pub fn u8(&self) -> Result<u8, ParseError> {
        Ok(self.exact::<1>()?[0])
    }
    pub fn u16(&self) -> Result<u16, ParseError> {
        Ok(u16::from_ne_bytes(self.exact()?))
    }
    pub fn u32(&self) -> Result<u32, ParseError> {
        Ok(u32::from_ne_bytes(self.exact()?))
    }
    pub fn u64(&self) -> Result<u64, ParseError> {
        Ok(u64::from_ne_bytes(self.exact()?))
    }
    pub fn be16(&self) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.exact()?))
    }
    pub fn be32(&self) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.exact()?))
    }
    /// A string attribute; a trailing NUL (and anything after it) is dropped.
    pub fn cstr(&self) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.cbytes()).map_err(|_| ParseError::NotUtf8 { kind: self.kind })
    }
    /// A string attribute as bytes, up to its NUL.
    pub fn cbytes(&self) -> &'a [u8] {
        let end = self.payload.iter().position(|&b| b == 0).unwrap_or(self.payload.len());
        &self.payload[..end]
    }
    pub fn nested(&self) -> AttrIter<'a> {
        AttrIter::new(self.payload)
    }
}

/// Iterates over a run of attributes; a malformed one ends the run with an error.
pub struct AttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> AttrIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<Attr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < NLA_HDRLEN {
            self.rest = &[];
            return Some(Err(ParseError::Truncated { what: "attribute header" }));
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        let kind = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(ParseError::BadLength { what: "attribute", len }));
        }
        let attr = Attr { kind, payload: &self.rest[NLA_HDRLEN..len] };
        self.rest = &self.rest[align4(len).min(self.rest.len())..];
        Some(Ok(attr))
    }
}
