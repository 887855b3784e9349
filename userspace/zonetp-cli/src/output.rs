//! Text and JSON renderings shared by the commands, and the writing of
//! them. Standard output closed early (`zonetp timeout list | head -1`)
//! is no error and no reason to stop: the command finishes its work (a
//! sync's kernel changes, its `cur_cfg` update; `sync --watch` keeps
//! running), its exit status is the work's, and what it would have printed
//! is dropped quietly. Text never carries a raw control character, so one
//! record stays one line.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};
use zonetp::cttimeout::object::format_timeouts;
use zonetp::cttimeout::{CtTimeoutObject, L3Proto, L4Proto, ObjectName, Timeouts};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Standard output can no longer be written; later lines are dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Writing failed otherwise than by a closed pipe (a full disk, an I/O
/// error): output was lost, so the command fails at the end.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output. A closed pipe (`EPIPE`) drops this
/// line and every later one, quietly; another write error is reported
/// once on stderr (once in all, whatever the threads), drops every later
/// line too, and makes the command fail at the end ([`output_failed`]).
/// Neither stops the command's work.
pub fn write_line(args: fmt::Arguments) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    let result = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    // `swap`: of threads failing at once, one alone reports it.
    if let Err(e) = result {
        if STDOUT_GONE.swap(true, Ordering::Relaxed) {
            return;
        }
        if e.kind() != io::ErrorKind::BrokenPipe {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            write_error_line(format_args!("zonetp: cannot write to standard output: {e}"));
        }
    }
}

/// Whether output was lost to a write error other than a closed pipe.
pub fn output_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

/// Writes one line to standard error; errors writing it are ignored (there
/// is nowhere left to report them).
pub fn write_error_line(args: fmt::Arguments) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` that drops its line quietly once standard output is closed.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_line(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::write_error_line(format_args!($($arg)*)) };
}

pub(crate) use {errln, outln};

/// `s` with control characters escaped (`\n`, `\t`, `\x1b`, ...), so that
/// a name from the kernel or a file cannot break line-oriented output.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

pub fn l3_json(l3: L3Proto) -> Value {
    l3.name().map(Value::from).unwrap_or_else(|| Value::from(l3.0))
}

pub fn l4_json(l4: L4Proto) -> Value {
    l4.tracker().map(|t| Value::from(t.name)).unwrap_or_else(|| Value::from(l4.0))
}

/// The timeouts worth showing: for a protocol the kernel tracks, only its
/// named states. The kernel reports SCTP's retired ninth attribute
/// (HEARTBEAT_ACKED, always 0) in every dump; nfct does not show it either.
pub fn shown_timeouts(l4: L4Proto, t: &Timeouts) -> Timeouts {
    if l4.tracker().is_none() {
        return t.clone();
    }
    t.iter().filter(|(attr, _)| l4.state_name(**attr).is_some()).map(|(a, s)| (*a, *s)).collect()
}

pub fn timeouts_json(l4: L4Proto, t: &Timeouts) -> Value {
    let mut m = Map::new();
    for (attr, secs) in &shown_timeouts(l4, t) {
        let key = l4.state_name(*attr).map(str::to_owned).unwrap_or_else(|| attr.to_string());
        m.insert(key, Value::from(*secs));
    }
    Value::Object(m)
}

/// An object's name in JSON: `"name"`, the name itself when it is UTF-8
/// (JSON escapes control characters on its own), so a string `"name"` is
/// always the exact name. A name that is not UTF-8 has no JSON string
/// form: `"name"` is `null` and `"name_hex"` holds its bytes in hex. (The
/// escaped text form would not do: `bad<0xff>` and a literal `bad\xff`
/// would share it.) `name_hex` appears only then, so output for UTF-8
/// names is unchanged.
pub fn name_json(name: &ObjectName, m: &mut Map<String, Value>) {
    match name.to_str() {
        Some(s) => {
            m.insert("name".into(), Value::from(s));
        }
        None => {
            m.insert("name".into(), Value::Null);
            let hex: String = name.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            m.insert("name_hex".into(), Value::from(hex));
        }
    }
}

pub fn object_json(o: &CtTimeoutObject) -> Value {
    let mut m = Map::new();
    name_json(&o.name, &mut m);
    m.insert("l3".into(), l3_json(o.l3));
    m.insert("l4".into(), l4_json(o.l4));
    m.insert("timeouts".into(), timeouts_json(o.l4, &o.timeouts));
    if let Some(u) = o.use_count {
        m.insert("use".into(), Value::from(u));
    }
    Value::Object(m)
}

/// A name as text shows it: escaped (`escape_name`), and `""` for the
/// empty name the kernel accepts from other tools, so the line still
/// starts with a word.
pub fn name_text(name: &ObjectName) -> String {
    if name.as_bytes().is_empty() {
        return "\"\"".to_owned();
    }
    name.to_string()
}

/// `NAME L3 L4 use=N state=secs ...`, one line, states in kernel order.
pub fn object_text(o: &CtTimeoutObject) -> String {
    let mut words = vec![name_text(&o.name), o.l3.to_string(), o.l4.to_string()];
    if let Some(u) = o.use_count {
        words.push(format!("use={u}"));
    }
    words.extend(format_timeouts(o.l4, &shown_timeouts(o.l4, &o.timeouts)));
    words.join(" ")
}

/// A JSON document, pretty-printed.
pub fn print_json(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).expect("JSON values serialize"));
}

/// A JSON document on one line (a stream of them, one per line).
pub fn print_json_line(v: &Value) {
    outln!("{}", serde_json::to_string(v).expect("JSON values serialize"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("web"), "web");
        assert_eq!(escape("a\nb\tc\u{1b}[31m\u{7f}\u{85}"), "a\\nb\\tc\\x1b[31m\\x7f\\x85");
    }

    #[test]
    fn sctp_retired_attribute_is_not_shown() {
        let sctp = L4Proto::parse("sctp").unwrap();
        let t: Timeouts = [(1, 10), (8, 30), (9, 0)].into();
        assert_eq!(shown_timeouts(sctp, &t), Timeouts::from([(1, 10), (8, 30)]));
        let unknown = L4Proto(200);
        assert_eq!(shown_timeouts(unknown, &t), t);
    }
}
