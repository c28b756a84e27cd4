//! Component values → JSON. NaN and the infinities, which JSON lacks, become the strings
//! `"NaN"`, `"inf"` and `"-inf"`; records keep their field order.

use compact_str::{CompactString, ToCompactString};
use serde_json::{Map, Number, Value as Json};
use wasmtime::component::Val;

/// The JSON text of a function's results: `null` for none, the value for one, an array for
/// several (core modules may return several).
pub fn results_to_json(results: &[Val]) -> CompactString {
    match results {
        [] => CompactString::const_new("null"),
        // Integers, the commonest result, skip building a JSON value (and fit inline).
        [Val::U64(x)] => x.to_compact_string(),
        [Val::S64(x)] => x.to_compact_string(),
        [Val::U32(x)] => x.to_compact_string(),
        [Val::S32(x)] => x.to_compact_string(),
        [one] => val_to_json(one).to_string().into(),
        many => Json::Array(many.iter().map(val_to_json).collect())
            .to_string()
            .into(),
    }
}

/// A float as JSON: NaN and the infinities, which JSON lacks, as strings.
pub(crate) fn float(x: f64) -> Json {
    if x.is_nan() {
        Json::String("NaN".into())
    } else if x == f64::INFINITY {
        Json::String("inf".into())
    } else if x == f64::NEG_INFINITY {
        Json::String("-inf".into())
    } else {
        Number::from_f64(x).map_or(Json::Null, Json::Number)
    }
}

/// An f32 as JSON, by its shortest decimal form.
pub(crate) fn float32(x: f32) -> Json {
    if x.is_finite() {
        // Go through the shortest decimal form so 0.1f32 prints as 0.1, not 0.100000001490116.
        let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(x));
        float(shortest)
    } else {
        float(f64::from(x))
    }
}

fn payload(p: &Option<Box<Val>>) -> Json {
    p.as_deref().map_or(Json::Null, val_to_json)
}

fn tagged(name: &str, value: Json) -> Json {
    let mut map = Map::new();
    map.insert(name.to_string(), value);
    Json::Object(map)
}

/// One component value as JSON.
pub fn val_to_json(val: &Val) -> Json {
    match val {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(x) => Json::from(*x),
        Val::U8(x) => Json::from(*x),
        Val::S16(x) => Json::from(*x),
        Val::U16(x) => Json::from(*x),
        Val::S32(x) => Json::from(*x),
        Val::U32(x) => Json::from(*x),
        Val::S64(x) => Json::from(*x),
        Val::U64(x) => Json::from(*x),
        Val::Float32(x) => float32(*x),
        Val::Float64(x) => float(*x),
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(val_to_json).collect())
        }
        Val::Map(pairs) => {
            if pairs.iter().all(|(k, _)| matches!(k, Val::String(_))) {
                let mut map = Map::new();
                for (k, v) in pairs {
                    if let Val::String(k) = k {
                        map.insert(k.clone(), val_to_json(v));
                    }
                }
                Json::Object(map)
            } else {
                Json::Array(
                    pairs
                        .iter()
                        .map(|(k, v)| Json::Array(vec![val_to_json(k), val_to_json(v)]))
                        .collect(),
                )
            }
        }
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), val_to_json(v)))
                .collect(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Json::String(name.clone()),
        Val::Variant(name, Some(p)) => tagged(name, val_to_json(p)),
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => val_to_json(v),
        Val::Result(Ok(p)) => tagged("ok", payload(p)),
        Val::Result(Err(p)) => tagged("err", payload(p)),
        Val::Flags(names) => Json::Array(names.iter().map(|n| Json::String(n.clone())).collect()),
        Val::Resource(_) => Json::String("<resource>".into()),
        Val::Future(_) => Json::String("<future>".into()),
        Val::Stream(_) => Json::String("<stream>".into()),
        Val::ErrorContext(_) => Json::String("<error-context>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let cases = [
            (Val::U64(u64::MAX), "18446744073709551615"),
            (Val::Float32(0.1), "0.1"),
            (Val::Float64(f64::NAN), "\"NaN\""),
            (Val::Float64(f64::NEG_INFINITY), "\"-inf\""),
            (Val::Char('λ'), "\"λ\""),
            (Val::Option(None), "null"),
            (Val::Result(Ok(None)), "{\"ok\":null}"),
            (
                Val::Result(Err(Some(Box::new(Val::String("no".into()))))),
                "{\"err\":\"no\"}",
            ),
            (Val::Variant("point".into(), None), "\"point\""),
            (
                Val::Record(vec![
                    ("name".into(), Val::String("a".into())),
                    ("age".into(), Val::Option(Some(Box::new(Val::U8(3))))),
                ]),
                "{\"name\":\"a\",\"age\":3}",
            ),
            (Val::Flags(vec!["read".into()]), "[\"read\"]"),
        ];
        for (val, want) in cases {
            assert_eq!(val_to_json(&val).to_string(), want, "{val:?}");
        }
        assert_eq!(results_to_json(&[]), "null");
    }
}
