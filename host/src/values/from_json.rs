//! JSON → component values, checked against the WIT type. A value that does not fit is a
//! [`BadInput`] naming the expected type, the value and where inside the input it sits; never a
//! panic and never a silent wrap (300 for a `u8` is an error).

use std::fmt;

use serde_json::Value as Json;
use wasmtime::component::Val;
use wasmtime::component::types::Type;

use super::wit_type::type_name;

/// An input that does not fit the function's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// Where inside the input: `.age`, `[2]`, `argument 1 (b)`; empty at the top.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

impl BadInput {
    fn new(message: String) -> BadInput {
        BadInput {
            path: String::new(),
            message,
        }
    }

    fn expected(ty: &Type, got: &Json) -> BadInput {
        BadInput::new(format!("expected {}, got {}", type_name(ty), show(got)))
    }

    fn within(mut self, segment: &str) -> BadInput {
        self.path.insert_str(0, segment);
        self
    }
}

/// A short rendering of a JSON value for messages (long values are cut).
fn show(value: &Json) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Turns one task's input (JSON text) into the function's arguments.
///
/// A 1-parameter function takes the value itself; a k-parameter function takes an array of k
/// values (Python's `starmap`) or an object keyed by parameter name; a 0-parameter function
/// takes `null` or `[]`.
///
/// # Errors
/// [`BadInput`] when the text is not JSON or a value does not fit its parameter.
pub fn params_from_json(text: &str, params: &[(String, Type)]) -> Result<Vec<Val>, BadInput> {
    let json: Json = serde_json::from_str(text)
        .map_err(|e| BadInput::new(format!("not valid JSON ({e}): {}", cut(text))))?;
    match params {
        [] => match &json {
            Json::Null => Ok(Vec::new()),
            Json::Array(items) if items.is_empty() => Ok(Vec::new()),
            other => Err(BadInput::new(format!(
                "the function takes no arguments: expected null or [], got {}",
                show(other)
            ))),
        },
        [(_, ty)] => Ok(vec![val_from_json(&json, ty)?]),
        many => {
            let args: Vec<&Json> = match &json {
                Json::Array(items) if items.len() == many.len() => items.iter().collect(),
                Json::Object(map) => {
                    if let Some(unknown) = map.keys().find(|k| !many.iter().any(|(n, _)| n == *k)) {
                        return Err(BadInput::new(format!(
                            "unknown argument `{unknown}`; the function takes {}",
                            arg_list(many)
                        )));
                    }
                    let mut args = Vec::with_capacity(many.len());
                    for (name, _) in many {
                        args.push(map.get(name).ok_or_else(|| {
                            BadInput::new(format!(
                                "missing argument `{name}`; the function takes {}",
                                arg_list(many)
                            ))
                        })?);
                    }
                    args
                }
                other => {
                    return Err(BadInput::new(format!(
                        "the function takes {} arguments ({}): expected an array of {} values \
                         or an object keyed by argument name, got {}",
                        many.len(),
                        arg_list(many),
                        many.len(),
                        show(other)
                    )));
                }
            };
            args.into_iter()
                .zip(many)
                .enumerate()
                .map(|(i, (arg, (name, ty)))| {
                    val_from_json(arg, ty)
                        .map_err(|e| e.within(&format!("argument {} ({name})", i + 1)))
                })
                .collect()
        }
    }
}

/// The fast path for the commonest input: one integer parameter given as a plain integer.
/// Returns `None` whenever the general path must decide (anything else, or out of range, so
/// that path reports the error).
pub fn single_integer(text: &str, params: &[(String, Type)]) -> Option<Val> {
    let [(_, ty)] = params else {
        return None;
    };
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // JSON has no leading zeros, and reads `-0` as a float: leave those to the general path.
    if digits.starts_with('0') && (digits.len() > 1 || text.starts_with('-')) {
        return None;
    }
    // Digit by digit (a tenth of what parsing an i128 costs); past u64 is past every type.
    let magnitude = digits.bytes().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    let n = if text.starts_with('-') {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    Some(match ty {
        Type::U8 => Val::U8(n.try_into().ok()?),
        Type::S8 => Val::S8(n.try_into().ok()?),
        Type::U16 => Val::U16(n.try_into().ok()?),
        Type::S16 => Val::S16(n.try_into().ok()?),
        Type::U32 => Val::U32(n.try_into().ok()?),
        Type::S32 => Val::S32(n.try_into().ok()?),
        Type::U64 => Val::U64(n.try_into().ok()?),
        Type::S64 => Val::S64(n.try_into().ok()?),
        _ => return None,
    })
}

fn cut(text: &str) -> String {
    show(&Json::String(text.to_string()))
}

fn arg_list(params: &[(String, Type)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(n, t)| format!("{n}: {}", type_name(t)))
        .collect();
    format!("({})", parts.join(", "))
}

fn int<T: TryFrom<i128>>(json: &Json, ty: &Type) -> Result<T, BadInput> {
    let wide: Option<i128> = match json {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    };
    let wide = wide.ok_or_else(|| BadInput::expected(ty, json))?;
    T::try_from(wide).map_err(|_| {
        BadInput::new(format!(
            "expected {}, got {wide}, which is out of range for {}",
            type_name(ty),
            type_name(ty)
        ))
    })
}

fn float(json: &Json, ty: &Type) -> Result<f64, BadInput> {
    match json {
        Json::Number(n) => n.as_f64().ok_or_else(|| BadInput::expected(ty, json)),
        Json::String(s) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "infinity" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" | "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(BadInput::new(format!(
                "expected {} (a number, or \"NaN\", \"inf\", \"-inf\"), got {}",
                type_name(ty),
                show(json)
            ))),
        },
        _ => Err(BadInput::expected(ty, json)),
    }
}

/// Converts one JSON value to a component value of type `ty`.
///
/// # Errors
/// [`BadInput`] naming the expected type and the path inside the value.
pub fn val_from_json(json: &Json, ty: &Type) -> Result<Val, BadInput> {
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| BadInput::expected(ty, json))?),
        Type::S8 => Val::S8(int(json, ty)?),
        Type::U8 => Val::U8(int(json, ty)?),
        Type::S16 => Val::S16(int(json, ty)?),
        Type::U16 => Val::U16(int(json, ty)?),
        Type::S32 => Val::S32(int(json, ty)?),
        Type::U32 => Val::U32(int(json, ty)?),
        Type::S64 => Val::S64(int(json, ty)?),
        Type::U64 => Val::U64(int(json, ty)?),
        Type::Float32 => {
            let x = float(json, ty)?;
            if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                return Err(BadInput::new(format!(
                    "expected f32, got {}, which is out of range for f32",
                    show(json)
                )));
            }
            Val::Float32(x as f32)
        }
        Type::Float64 => Val::Float64(float(json, ty)?),
        Type::Char => {
            let s = json.as_str().ok_or_else(|| BadInput::expected(ty, json))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(BadInput::new(format!(
                        "expected char (a string of exactly one character), got {}",
                        show(json)
                    )));
                }
            }
        }
        Type::String => Val::String(
            json.as_str()
                .ok_or_else(|| BadInput::expected(ty, json))?
                .to_string(),
        ),
        Type::List(list) => {
            let items = json
                .as_array()
                .ok_or_else(|| BadInput::expected(ty, json))?;
            let elem = list.ty();
            Val::List(elements(items, &elem)?)
        }
        Type::FixedLengthList(list) => {
            let items = json
                .as_array()
                .ok_or_else(|| BadInput::expected(ty, json))?;
            if items.len() != list.len() as usize {
                return Err(BadInput::new(format!(
                    "expected {} (exactly {} elements), got {} elements",
                    type_name(ty),
                    list.len(),
                    items.len()
                )));
            }
            Val::FixedLengthList(elements(items, &list.ty())?)
        }
        Type::Map(map) => {
            let (key_ty, value_ty) = (map.key(), map.value());
            let mut pairs = Vec::new();
            match json {
                Json::Object(obj) if key_ty == Type::String => {
                    for (k, v) in obj {
                        let value =
                            val_from_json(v, &value_ty).map_err(|e| e.within(&format!(".{k}")))?;
                        pairs.push((Val::String(k.clone()), value));
                    }
                }
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let pair = item.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
                            BadInput::new(format!(
                                "expected a [key, value] pair, got {}",
                                show(item)
                            ))
                            .within(&format!("[{i}]"))
                        })?;
                        let key = val_from_json(&pair[0], &key_ty)
                            .map_err(|e| e.within(&format!("[{i}][0]")))?;
                        let value = val_from_json(&pair[1], &value_ty)
                            .map_err(|e| e.within(&format!("[{i}][1]")))?;
                        pairs.push((key, value));
                    }
                }
                _ => return Err(BadInput::expected(ty, json)),
            }
            Val::Map(pairs)
        }
        Type::Record(record) => {
            let obj = json
                .as_object()
                .ok_or_else(|| BadInput::expected(ty, json))?;
            if let Some(unknown) = obj.keys().find(|k| !record.fields().any(|f| f.name == *k)) {
                return Err(BadInput::new(format!(
                    "unknown field `{unknown}`; expected {}",
                    type_name(ty)
                )));
            }
            let mut fields = Vec::with_capacity(record.fields().len());
            for field in record.fields() {
                let value = match obj.get(field.name) {
                    Some(v) => val_from_json(v, &field.ty)
                        .map_err(|e| e.within(&format!(".{}", field.name)))?,
                    None if matches!(field.ty, Type::Option(_)) => Val::Option(None),
                    None => {
                        return Err(BadInput::new(format!(
                            "missing field `{}`; expected {}",
                            field.name,
                            type_name(ty)
                        )));
                    }
                };
                fields.push((field.name.to_string(), value));
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let items = json
                .as_array()
                .ok_or_else(|| BadInput::expected(ty, json))?;
            if items.len() != tuple.types().len() {
                return Err(BadInput::new(format!(
                    "expected {} (an array of {} values), got {}",
                    type_name(ty),
                    tuple.types().len(),
                    show(json)
                )));
            }
            let mut vals = Vec::with_capacity(items.len());
            for (i, (item, ty)) in items.iter().zip(tuple.types()).enumerate() {
                vals.push(val_from_json(item, &ty).map_err(|e| e.within(&format!("[{i}]")))?);
            }
            Val::Tuple(vals)
        }
        Type::Variant(variant) => {
            let (name, payload) = case_of(json).ok_or_else(|| BadInput::expected(ty, json))?;
            let case = variant.cases().find(|c| c.name == name).ok_or_else(|| {
                BadInput::new(format!("unknown case `{name}`; expected {}", type_name(ty)))
            })?;
            let payload = match (&case.ty, payload) {
                (None, None | Some(Json::Null)) => None,
                (None, Some(p)) => {
                    return Err(BadInput::new(format!(
                        "case `{name}` of {} has no payload, got {}",
                        type_name(ty),
                        show(p)
                    )));
                }
                (Some(pty), Some(p)) => Some(Box::new(
                    val_from_json(p, pty).map_err(|e| e.within(&format!(".{name}")))?,
                )),
                (Some(pty), None) => {
                    return Err(BadInput::new(format!(
                        "case `{name}` needs a payload of type {}: write {{\"{name}\": VALUE}}",
                        type_name(pty)
                    )));
                }
            };
            Val::Variant(name.to_string(), payload)
        }
        Type::Enum(e) => {
            let name = json.as_str().ok_or_else(|| BadInput::expected(ty, json))?;
            if !e.names().any(|n| n == name) {
                return Err(BadInput::new(format!(
                    "unknown case \"{name}\"; expected {}",
                    type_name(ty)
                )));
            }
            Val::Enum(name.to_string())
        }
        Type::Option(option) => match json {
            Json::Null => Val::Option(None),
            some => Val::Option(Some(Box::new(val_from_json(some, &option.ty())?))),
        },
        Type::Result(result) => {
            let (name, payload) = case_of(json)
                .filter(|(n, _)| *n == "ok" || *n == "err")
                .ok_or_else(|| {
                    BadInput::new(format!(
                        "expected {} as {{\"ok\": VALUE}} or {{\"err\": VALUE}}, got {}",
                        type_name(ty),
                        show(json)
                    ))
                })?;
            let side = if name == "ok" {
                result.ok()
            } else {
                result.err()
            };
            let payload = match (side, payload) {
                (None, None | Some(Json::Null)) => None,
                (None, Some(p)) => {
                    return Err(BadInput::new(format!(
                        "`{name}` of {} has no payload, got {}",
                        type_name(ty),
                        show(p)
                    )));
                }
                (Some(t), Some(p)) => Some(Box::new(
                    val_from_json(p, &t).map_err(|e| e.within(&format!(".{name}")))?,
                )),
                (Some(t), None) => {
                    return Err(BadInput::new(format!(
                        "`{name}` needs a payload of type {}",
                        type_name(&t)
                    )));
                }
            };
            Val::Result(if name == "ok" {
                Ok(payload)
            } else {
                Err(payload)
            })
        }
        Type::Flags(flags) => {
            let items = json
                .as_array()
                .ok_or_else(|| BadInput::expected(ty, json))?;
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().filter(|n| flags.names().any(|f| f == *n));
                match name {
                    Some(n) => set.push(n.to_string()),
                    None => {
                        return Err(BadInput::new(format!(
                            "unknown flag {}; expected {}",
                            show(item),
                            type_name(ty)
                        )));
                    }
                }
            }
            Val::Flags(set)
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return Err(BadInput::new(format!(
                "{} values cannot be given as JSON",
                type_name(ty)
            )));
        }
    })
}

fn elements(items: &[Json], elem: &Type) -> Result<Vec<Val>, BadInput> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| val_from_json(item, elem).map_err(|e| e.within(&format!("[{i}]"))))
        .collect()
}

/// `"case"` or `{"case": payload}` → (case, payload).
fn case_of(json: &Json) -> Option<(&str, Option<&Json>)> {
    match json {
        Json::String(name) => Some((name.as_str(), None)),
        Json::Object(map) if map.len() == 1 => {
            let (name, payload) = map.iter().next()?;
            Some((name.as_str(), Some(payload)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, ty: Type) -> Result<Val, BadInput> {
        params_from_json(text, &[("x".to_string(), ty)]).map(|mut v| v.remove(0))
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(one("200", Type::U8), Ok(Val::U8(200)));
        assert_eq!(one("-128", Type::S8), Ok(Val::S8(-128)));
        assert_eq!(
            one("18446744073709551615", Type::U64),
            Ok(Val::U64(u64::MAX))
        );
        let err = one("300", Type::U8).expect_err("300 is no u8");
        assert!(err.message.contains("out of range for u8"), "{err}");
        assert!(one("-1", Type::U32).is_err());
        assert!(one("1.5", Type::S32).is_err());
        assert!(one("\"7\"", Type::S32).is_err());
    }

    #[test]
    fn the_integer_fast_path_agrees_with_the_general_one() {
        let cases = [
            "0",
            "7",
            "-3",
            "255",
            "256",
            "18446744073709551615",
            " 12 ",
            "1.0",
            "1e3",
            "\"5\"",
            "-0",
            "05",
            "-07",
            "99999999999999999999999",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "-18446744073709551615",
            "4294967295",
            "-2147483648",
        ];
        for ty in [
            Type::U8,
            Type::S8,
            Type::U16,
            Type::S16,
            Type::U32,
            Type::S32,
            Type::S64,
            Type::U64,
        ] {
            let params = [("x".to_string(), ty.clone())];
            for text in cases {
                if let Some(fast) = single_integer(text, &params) {
                    assert_eq!(
                        params_from_json(text, &params),
                        Ok(vec![fast]),
                        "{text} as {ty:?}"
                    );
                }
            }
        }
        assert_eq!(
            single_integer("300", &[("x".into(), Type::U8)]),
            None,
            "errors take the general path"
        );
        assert_eq!(single_integer("3", &[("x".into(), Type::String)]), None);
        let one = |text: &str, ty: Type| single_integer(text, &[("x".into(), ty)]);
        assert_eq!(
            one("9223372036854775807", Type::S64),
            Some(Val::S64(i64::MAX))
        );
        assert_eq!(
            one("-9223372036854775808", Type::S64),
            Some(Val::S64(i64::MIN))
        );
        assert_eq!(
            one("18446744073709551615", Type::U64),
            Some(Val::U64(u64::MAX))
        );
        assert_eq!(one("-128", Type::S8), Some(Val::S8(-128)));
        assert_eq!(one("0", Type::U16), Some(Val::U16(0)));
    }

    #[test]
    fn floats_take_special_strings() {
        assert_eq!(
            one("\"inf\"", Type::Float64),
            Ok(Val::Float64(f64::INFINITY))
        );
        assert!(matches!(one("\"NaN\"", Type::Float32), Ok(Val::Float32(x)) if x.is_nan()));
        assert!(one("1e300", Type::Float32).is_err());
        assert_eq!(one("2", Type::Float64), Ok(Val::Float64(2.0)));
    }

    #[test]
    fn arity() {
        let two = [("a".to_string(), Type::S32), ("b".to_string(), Type::S32)];
        assert_eq!(
            params_from_json("[1, 2]", &two),
            Ok(vec![Val::S32(1), Val::S32(2)])
        );
        assert_eq!(
            params_from_json(r#"{"b": 2, "a": 1}"#, &two),
            Ok(vec![Val::S32(1), Val::S32(2)])
        );
        assert!(params_from_json("[1]", &two).is_err());
        assert!(params_from_json("1", &two).is_err());
        assert_eq!(params_from_json("null", &[]), Ok(vec![]));
        assert_eq!(params_from_json("[]", &[]), Ok(vec![]));
        assert!(params_from_json("3", &[]).is_err());
        let err = params_from_json("{not json", &two).expect_err("not json");
        assert!(err.message.contains("not valid JSON"), "{err}");
    }
}
