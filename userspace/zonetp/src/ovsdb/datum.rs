//! OVSDB's JSON notation for values (RFC 7047 section 5.1): atoms,
//! `["set", [...]]`, `["map", [[k, v], ...]]`, `["uuid", "..."]`, and
//! `["named-uuid", "..."]` for rows inserted in the same transaction.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The elements of a set value (a single atom is a set of one).
pub fn set_elems(v: &Value) -> Vec<&Value> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(elems)]) if tag == "set" => elems.iter().collect(),
        _ => vec![v],
    }
}

/// The pairs of a map value; anything else is an empty map.
pub fn map_pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The UUID of a `["uuid", "..."]` atom.
pub fn uuid(v: &Value) -> Option<&str> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::String(u)]) if tag == "uuid" => Some(u),
        _ => None,
    }
}

/// An optional reference (a set of at most one UUID).
pub fn optional_uuid(v: &Value) -> Option<String> {
    set_elems(v).first().and_then(|e| uuid(e)).map(str::to_owned)
}

pub fn string_map(v: &Value) -> BTreeMap<String, String> {
    map_pairs(v)
        .into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect()
}

pub fn uuid_ref(u: &str) -> Value {
    json!(["uuid", u])
}

pub fn named_ref(name: &str) -> Value {
    json!(["named-uuid", name])
}

pub fn map_of<K: Into<Value>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
    let pairs: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k.into(), v.into()])).collect();
    json!(["map", pairs])
}

pub fn set_of<V: Into<Value>>(elems: impl IntoIterator<Item = V>) -> Value {
    let elems: Vec<Value> = elems.into_iter().map(Into::into).collect();
    json!(["set", elems])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back() {
        let m = json!(["map", [[5, ["uuid", "a"]], [7, ["uuid", "b"]]]]);
        let pairs = map_pairs(&m);
        assert_eq!(pairs.len(), 2);
        assert_eq!(uuid(pairs[1].1), Some("b"));
        assert_eq!(optional_uuid(&json!(["set", []])), None);
        assert_eq!(optional_uuid(&json!(["uuid", "x"])).as_deref(), Some("x"));
        assert_eq!(set_elems(&json!("one")).len(), 1);
        assert_eq!(string_map(&json!(["map", [["k", "v"]]]))["k"], "v");
        assert_eq!(map_of([("k", "v")]), json!(["map", [["k", "v"]]]));
    }
}
