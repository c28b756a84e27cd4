//! Reading the broker's stream replies (`XREAD`, `XREADGROUP`, `XAUTOCLAIM`, `XPENDING`) out
//! of [`redis::Value`]s, in either protocol version's shape, without trusting them: anything
//! unexpected is skipped, never a panic.

use redis::Value;

/// One stream entry: its id and its fields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry id (`1700000000000-0`).
    pub id: String,
    /// Field/value pairs.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The value of field `name` as a decimal `u64`, if it is one.
    pub fn u64_field(&self, name: &str) -> Option<u64> {
        std::str::from_utf8(self.field(name)?).ok()?.parse().ok()
    }
}

/// The bytes of a string-like value.
pub fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes().to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// A string-like value as text.
pub fn text(value: &Value) -> Option<String> {
    bytes(value).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// An integer value (or a string holding one).
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

/// The items of an array-like value (a map's keys and values alternate).
pub fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(v) | Value::Set(v) => v.iter().collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
        Value::Attribute { data, .. } => items(data),
        _ => Vec::new(),
    }
}

/// A list of entries (`[[id, [field, value, ...]], ...]`); deleted entries (a nil body) are
/// kept with no fields.
pub fn entries(value: &Value) -> Vec<Entry> {
    let Value::Array(list) = value else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = text(parts.first()?)?;
            let flat = parts.get(1).map(|f| items(f)).unwrap_or_default();
            let fields = flat
                .chunks_exact(2)
                .filter_map(|kv| Some((bytes(kv[0])?, bytes(kv[1])?)))
                .collect();
            Some(Entry { id, fields })
        })
        .collect()
}

/// The reply of `XREAD`/`XREADGROUP`: entries per stream key.
pub fn streams(value: &Value) -> Vec<(String, Vec<Entry>)> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, entries(v))))
            .collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(|stream| {
                let parts = items(stream);
                Some((text(parts.first()?)?, entries(parts.get(1)?)))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_stream_replies() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("i"), bulk("7"), bulk("v"), bulk("[1]")]),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("mpwasm:job:x:in"),
            Value::Array(vec![entry.clone(), Value::Nil, Value::Int(3)]),
        ])]);
        let got = streams(&reply);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "mpwasm:job:x:in");
        assert_eq!(got[0].1.len(), 1);
        assert_eq!(got[0].1[0].field("i"), Some(&b"7"[..]));
        assert_eq!(got[0].1[0].field("v"), Some(&b"[1]"[..]));
        let map = Value::Map(vec![(bulk("k"), Value::Array(vec![entry]))]);
        assert_eq!(streams(&map)[0].1[0].id, "1-0");
        assert!(streams(&Value::Nil).is_empty());
        assert_eq!(int(&bulk("12")), Some(12));
    }

    /// Any reply shape the server (or something in between) could send.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Nil),
            Just(Value::Okay),
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::BulkString),
            ".{0,6}".prop_map(Value::SimpleString),
            any::<f64>().prop_map(Value::Double),
            any::<bool>().prop_map(Value::Boolean),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Set),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..4)
                    .prop_map(Value::Map),
                (
                    inner.clone(),
                    proptest::collection::vec((inner.clone(), inner), 0..2)
                )
                    .prop_map(|(data, attributes)| Value::Attribute {
                        data: Box::new(data),
                        attributes,
                    }),
            ]
        })
    }

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;
    type Streams = Vec<(String, Vec<(String, Fields)>)>;

    /// Well-formed stream replies: keys, entry ids, field/value pairs.
    fn any_streams() -> impl proptest::strategy::Strategy<Value = Streams> {
        use proptest::prelude::*;
        let bytes = || proptest::collection::vec(any::<u8>(), 0..6);
        let entry = (
            "[0-9]{1,13}-[0-9]{1,3}",
            proptest::collection::vec((bytes(), bytes()), 0..4),
        );
        proptest::collection::vec(
            ("[a-z:]{1,12}", proptest::collection::vec(entry, 0..4)),
            0..3,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: crate::fuzz_cases(2000),
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn any_reply_is_read_without_a_panic(value in any_value()) {
            let _ = streams(&value);
            let _ = entries(&value);
            let _ = items(&value);
            let _ = int(&value);
            let _ = text(&value);
        }

        #[test]
        fn well_formed_stream_replies_read_back_whole_in_both_protocols(data in any_streams()) {
            let entry_list = |entries: &[(String, Fields)]| {
                Value::Array(
                    entries
                        .iter()
                        .map(|(id, fields)| {
                            let flat = fields
                                .iter()
                                .flat_map(|(k, v)| {
                                    [Value::BulkString(k.clone()), Value::BulkString(v.clone())]
                                })
                                .collect();
                            Value::Array(vec![bulk(id), Value::Array(flat)])
                        })
                        .collect(),
                )
            };
            let resp2 = Value::Array(
                data.iter()
                    .map(|(key, entries)| Value::Array(vec![bulk(key), entry_list(entries)]))
                    .collect(),
            );
            let resp3 = Value::Map(
                data.iter()
                    .map(|(key, entries)| (bulk(key), entry_list(entries)))
                    .collect(),
            );
            let want: Vec<(String, Vec<Entry>)> = data
                .iter()
                .map(|(key, entries)| {
                    let entries = entries
                        .iter()
                        .map(|(id, fields)| Entry { id: id.clone(), fields: fields.clone() })
                        .collect();
                    (key.clone(), entries)
                })
                .collect();
            proptest::prop_assert_eq!(&streams(&resp2), &want);
            proptest::prop_assert_eq!(&streams(&resp3), &want);
        }
    }
}
