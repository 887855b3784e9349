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

/// The shape of a column's values (RFC 7047 <type>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// At most one atom (an optional value too: ovsdb-server's
    /// `ovsdb_type_is_composite` is false for max 1, so a difference is
    /// the new value).
    Scalar,
    /// A set of more than one element at most.
    Set,
    Map,
}

impl ColumnKind {
    pub fn of(column_type: &Value) -> Self {
        match column_type {
            Value::Object(t) if t.contains_key("value") => ColumnKind::Map,
            Value::Object(t) => {
                let max = t.get("max").map_or(Some(1), Value::as_u64);
                if max == Some(1) {
                    ColumnKind::Scalar
                } else {
                    ColumnKind::Set
                }
            }
            _ => ColumnKind::Scalar,
        }
    }
}

/// Applies the difference an `update2`/`update3` "modify" carries for a
/// column (ovsdb-server(7) 4.1.14): a scalar takes the new value; a set
/// toggles each element listed; a map drops a listed pair it holds with
/// that value, and otherwise takes the pair's value for its key.
pub fn apply_diff(kind: ColumnKind, old: Option<&Value>, diff: &Value) -> Value {
    let mut value = old.cloned().unwrap_or(Value::Null);
    apply_diff_in_place(kind, &mut value, diff);
    value
}

/// [`apply_diff`] on the column's value where it is (`Null`: the column
/// at its default, left out): a change of one zone of a datapath with
/// 65,536 moves no other pair, where building the column anew costs a
/// copy of every pair.
pub fn apply_diff_in_place(kind: ColumnKind, value: &mut Value, diff: &Value) {
    if kind == ColumnKind::Scalar {
        *value = diff.clone();
        return;
    }
    let tag = if kind == ColumnKind::Set { "set" } else { "map" };
    // A set of one may come as its atom; a column left out is empty.
    let whole = matches!(value.as_array().map(Vec::as_slice), Some([t, Value::Array(_)]) if t == tag);
    if !whole {
        let elems: Vec<Value> = match (kind, value.take()) {
            (ColumnKind::Set, Value::Null) | (ColumnKind::Map, _) => Vec::new(),
            (_, atom) => vec![atom],
        };
        *value = json!([tag, elems]);
    }
    let Some(Value::Array(elems)) = value.get_mut(1) else { unreachable!("made whole above") };
    if kind == ColumnKind::Set {
        for e in set_elems(diff) {
            match elems.iter().position(|x| x == e) {
                Some(i) => drop(elems.remove(i)),
                None => elems.push(e.clone()),
            }
        }
        return;
    }
    for (k, v) in map_pairs(diff) {
        match elems.iter().position(|p| p.get(0) == Some(k)) {
            Some(i) if elems[i].get(1) == Some(v) => drop(elems.remove(i)),
            Some(i) => elems[i] = json!([k, v]),
            None => elems.push(json!([k, v])),
        }
    }
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

    #[test]
    fn differences_apply_as_ovsdb_server_sends_them() {
        assert_eq!(apply_diff(ColumnKind::Scalar, Some(&json!(3)), &json!(4)), json!(4));
        // An optional reference moving from a to b comes as b (as
        // ovsdb-server 3.1 sends it), and one cleared as the empty set.
        let old = json!(["uuid", "a"]);
        assert_eq!(apply_diff(ColumnKind::Scalar, Some(&old), &json!(["uuid", "b"])), json!(["uuid", "b"]));
        assert_eq!(apply_diff(ColumnKind::Scalar, Some(&old), &json!(["set", []])), json!(["set", []]));
        // A set toggles the elements listed.
        let old = json!(["set", ["x", "y"]]);
        assert_eq!(
            apply_diff(ColumnKind::Set, Some(&old), &json!(["set", ["y", "z"]])),
            json!(["set", ["x", "z"]])
        );
        assert_eq!(apply_diff(ColumnKind::Set, None, &json!(["uuid", "c"])), json!(["set", [["uuid", "c"]]]));
        // Maps: a pair removed (sent with its old value), one changed, one added.
        let old = json!(["map", [["a", 1], ["b", 2]]]);
        let d = json!(["map", [["a", 1], ["b", 5], ["c", 7]]]);
        assert_eq!(apply_diff(ColumnKind::Map, Some(&old), &d), json!(["map", [["b", 5], ["c", 7]]]));
        assert_eq!(ColumnKind::of(&json!("integer")), ColumnKind::Scalar);
        assert_eq!(ColumnKind::of(&json!({"key": "string", "min": 0, "max": 1})), ColumnKind::Scalar);
        assert_eq!(ColumnKind::of(&json!({"key": "string", "min": 0, "max": "unlimited"})), ColumnKind::Set);
        assert_eq!(
            ColumnKind::of(&json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"})),
            ColumnKind::Map
        );
    }
}
