//! Text and JSON renderings shared by the commands.

use serde_json::{json, Map, Value};
use zonetp::cttimeout::object::format_timeouts;
use zonetp::cttimeout::{CtTimeoutObject, L3Proto, L4Proto, Timeouts};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn l3_json(l3: L3Proto) -> Value {
    l3.name().map(Value::from).unwrap_or_else(|| Value::from(l3.0))
}

pub fn l4_json(l4: L4Proto) -> Value {
    l4.tracker().map(|t| Value::from(t.name)).unwrap_or_else(|| Value::from(l4.0))
}

pub fn timeouts_json(l4: L4Proto, t: &Timeouts) -> Value {
    let mut m = Map::new();
    for (attr, secs) in t {
        let key = l4.state_name(*attr).map(str::to_owned).unwrap_or_else(|| attr.to_string());
        m.insert(key, Value::from(*secs));
    }
    Value::Object(m)
}

pub fn object_json(o: &CtTimeoutObject) -> Value {
    let mut v = json!({
        "name": o.name.as_str(),
        "l3": l3_json(o.l3),
        "l4": l4_json(o.l4),
        "timeouts": timeouts_json(o.l4, &o.timeouts),
    });
    if let Some(u) = o.use_count {
        v["use"] = Value::from(u);
    }
    v
}

/// `NAME L3 L4 use=N state=secs ...`, one line, states in kernel order.
pub fn object_text(o: &CtTimeoutObject) -> String {
    let mut words = vec![o.name.to_string(), o.l3.to_string(), o.l4.to_string()];
    if let Some(u) = o.use_count {
        words.push(format!("use={u}"));
    }
    words.extend(format_timeouts(o.l4, &o.timeouts));
    words.join(" ")
}

pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialize"));
}
