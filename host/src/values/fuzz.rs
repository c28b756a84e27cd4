//! Property tests of the JSON ↔ WIT mapping over random WIT types: random trees of records,
//! variants, enums, flags, lists, options, results, tuples and every primitive become the
//! parameter of a real component's import (so wasmtime builds the `Type`), then
//! - a random JSON value that fits the type converts, and comes back from the component value
//!   as the very same JSON;
//! - random JSON of any shape never panics the conversion, and what does not fit is a
//!   `BadInput` whose message names the type it expected (the whole type or the part that
//!   failed).
//!
//! (The other way round one value has no JSON of its own: `option<option<T>>`'s `some(none)`
//! prints as `null`, as `none` does; README, the value mapping.)

use proptest::prelude::*;
use serde_json::Value as Json;
use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::component::{Component, Val};
use wasmtime::{Config, Engine};

use super::from_json::val_from_json;
use super::to_json::{float, float32, val_to_json};
use super::wit_type::type_name;

/// A WIT type as the generator builds it.
#[derive(Debug, Clone)]
enum Ty {
    Bool,
    Int(&'static str),
    F32,
    F64,
    Char,
    String,
    List(Box<Ty>),
    Option(Box<Ty>),
    Result(Option<Box<Ty>>, Option<Box<Ty>>),
    Tuple(Vec<Ty>),
    Record(Vec<Ty>),
    Variant(Vec<Option<Ty>>),
    Enum(usize),
    Flags(usize),
}

/// The `i`th name of a field, case or flag.
fn name(i: usize) -> String {
    format!("n{i}")
}

fn ty() -> impl Strategy<Value = Ty> {
    let leaf = prop_oneof![
        Just(Ty::Bool),
        prop::sample::select(vec!["s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64"])
            .prop_map(Ty::Int),
        Just(Ty::F32),
        Just(Ty::F64),
        Just(Ty::Char),
        Just(Ty::String),
        (1usize..5).prop_map(Ty::Enum),
        (1usize..6).prop_map(Ty::Flags),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        prop_oneof![
            boxed.clone().prop_map(Ty::List),
            boxed.clone().prop_map(Ty::Option),
            (
                prop::option::of(boxed.clone()),
                prop::option::of(boxed.clone())
            )
                .prop_map(|(ok, err)| Ty::Result(ok, err)),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Ty::Tuple),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Ty::Record),
            prop::collection::vec(prop::option::of(inner), 1..4).prop_map(Ty::Variant),
        ]
    })
}

/// Component text declaring `ty` (named types are imported, as the component model wants
/// records, variants, enums and flags in signatures to be) and importing `f(x: ty)`.
fn component_text(ty: &Ty) -> String {
    fn go(ty: &Ty, decls: &mut String, next: &mut usize) -> String {
        let named = |def: String, decls: &mut String, next: &mut usize| {
            let n = *next;
            *next += 1;
            decls.push_str(&format!(
                "(type $d{n} {def}) (import \"t{n}\" (type $t{n} (eq $d{n})))\n"
            ));
            format!("$t{n}")
        };
        match ty {
            Ty::Bool => "bool".into(),
            Ty::Int(t) => (*t).into(),
            Ty::F32 => "f32".into(),
            Ty::F64 => "f64".into(),
            Ty::Char => "char".into(),
            Ty::String => "string".into(),
            Ty::List(t) => format!("(list {})", go(t, decls, next)),
            Ty::Option(t) => format!("(option {})", go(t, decls, next)),
            Ty::Result(ok, err) => {
                let mut s = "(result".to_string();
                if let Some(ok) = ok {
                    s.push(' ');
                    s.push_str(&go(ok, decls, next));
                }
                if let Some(err) = err {
                    s.push_str(&format!(" (error {})", go(err, decls, next)));
                }
                s.push(')');
                s
            }
            Ty::Tuple(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| go(t, decls, next)).collect();
                format!("(tuple {})", parts.join(" "))
            }
            Ty::Record(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("(field \"{}\" {})", name(i), go(t, decls, next)))
                    .collect();
                named(format!("(record {})", parts.join(" ")), decls, next)
            }
            Ty::Variant(cases) => {
                let parts: Vec<String> = cases
                    .iter()
                    .enumerate()
                    .map(|(i, t)| match t {
                        Some(t) => format!("(case \"{}\" {})", name(i), go(t, decls, next)),
                        None => format!("(case \"{}\")", name(i)),
                    })
                    .collect();
                named(format!("(variant {})", parts.join(" ")), decls, next)
            }
            Ty::Enum(n) | Ty::Flags(n) => {
                let names: Vec<String> = (0..*n).map(|i| format!("\"{}\"", name(i))).collect();
                let kind = if matches!(ty, Ty::Enum(_)) {
                    "enum"
                } else {
                    "flags"
                };
                named(format!("({kind} {})", names.join(" ")), decls, next)
            }
        }
    }
    let mut decls = String::new();
    let param = go(ty, &mut decls, &mut 0);
    format!("(component\n{decls}(import \"f\" (func (param \"x\" {param}))))")
}

/// wasmtime's `Type` for `ty`, read from a real component.
fn wasmtime_type(engine: &Engine, ty: &Ty) -> Type {
    let text = component_text(ty);
    let bytes = wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let component =
        Component::from_binary(engine, &bytes).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let found = component
        .component_type()
        .imports(engine)
        .find_map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) if name == "f" => f.params().next().map(|(_, ty)| ty),
            _ => None,
        });
    found.unwrap_or_else(|| panic!("no import f in\n{text}"))
}

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&Config::new()).expect("an engine"))
}

/// Random JSON that fits `ty`, in the shape `val_to_json` writes.
fn fitting(ty: &Ty) -> BoxedStrategy<Json> {
    match ty {
        Ty::Bool => any::<bool>().prop_map(Json::Bool).boxed(),
        Ty::Int(t) => match *t {
            "s8" => any::<i8>().prop_map(Json::from).boxed(),
            "u8" => any::<u8>().prop_map(Json::from).boxed(),
            "s16" => any::<i16>().prop_map(Json::from).boxed(),
            "u16" => any::<u16>().prop_map(Json::from).boxed(),
            "s32" => any::<i32>().prop_map(Json::from).boxed(),
            "u32" => any::<u32>().prop_map(Json::from).boxed(),
            "s64" => any::<i64>().prop_map(Json::from).boxed(),
            _ => any::<u64>().prop_map(Json::from).boxed(),
        },
        Ty::F32 => any::<f32>().prop_map(float32).boxed(),
        Ty::F64 => any::<f64>().prop_map(float).boxed(),
        Ty::Char => any::<char>()
            .prop_map(|c| Json::String(c.to_string()))
            .boxed(),
        Ty::String => any::<String>().prop_map(Json::String).boxed(),
        Ty::List(t) => prop::collection::vec(fitting(t), 0..4)
            .prop_map(Json::Array)
            .boxed(),
        Ty::Option(t) => prop::option::of(fitting(t))
            .prop_map(|v| v.unwrap_or(Json::Null))
            .boxed(),
        Ty::Result(ok, err) => {
            let side = |t: &Option<Box<Ty>>, tag: &'static str| {
                let payload = match t {
                    Some(t) => fitting(t),
                    None => Just(Json::Null).boxed(),
                };
                payload.prop_map(move |p| serde_json::json!({ tag: p }))
            };
            prop_oneof![side(ok, "ok"), side(err, "err")].boxed()
        }
        Ty::Tuple(ts) => ts
            .iter()
            .map(fitting)
            .collect::<Vec<_>>()
            .prop_map(Json::Array)
            .boxed(),
        Ty::Record(fields) => fields
            .iter()
            .map(fitting)
            .collect::<Vec<_>>()
            .prop_map(|values| {
                Json::Object(
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (name(i), v))
                        .collect(),
                )
            })
            .boxed(),
        Ty::Variant(cases) => {
            let options: Vec<BoxedStrategy<Json>> = cases
                .iter()
                .enumerate()
                .map(|(i, t)| match t {
                    Some(t) => fitting(t)
                        .prop_map(move |p| serde_json::json!({ name(i): p }))
                        .boxed(),
                    None => Just(Json::String(name(i))).boxed(),
                })
                .collect();
            prop::strategy::Union::new(options).boxed()
        }
        Ty::Enum(n) => (0..*n).prop_map(|i| Json::String(name(i))).boxed(),
        Ty::Flags(n) => prop::collection::btree_set(0..*n, 0..=*n)
            .prop_map(|set| Json::Array(set.into_iter().map(|i| Json::String(name(i))).collect()))
            .boxed(),
    }
}

/// JSON of any shape, with the names the generated types use.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(float),
        "[a-z0-9\"\\\\]{0,3}".prop_map(Json::String),
        (0usize..5).prop_map(|i| Json::String(name(i))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec(((0usize..5).prop_map(name), inner), 0..4)
                .prop_map(|pairs| Json::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Every WIT type name inside `ty`, itself included.
fn names_within(ty: &Type, out: &mut Vec<String>) {
    out.push(type_name(ty));
    match ty {
        Type::List(l) => names_within(&l.ty(), out),
        Type::Option(o) => names_within(&o.ty(), out),
        Type::Result(r) => {
            for t in [r.ok(), r.err()].into_iter().flatten() {
                names_within(&t, out);
            }
        }
        Type::Tuple(t) => t.types().for_each(|t| names_within(&t, out)),
        Type::Record(r) => r.fields().for_each(|f| names_within(&f.ty, out)),
        Type::Variant(v) => v
            .cases()
            .filter_map(|c| c.ty)
            .for_each(|t| names_within(&t, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]

    #[test]
    fn a_value_that_fits_its_wit_type_round_trips_exactly(
        (ty, json) in ty().prop_flat_map(|t| { let v = fitting(&t); (Just(t), v) })
    ) {
        let wit = wasmtime_type(engine(), &ty);
        let val: Val = val_from_json(&json, &wit)
            .unwrap_or_else(|e| panic!("{json} should fit {}: {e}", type_name(&wit)));
        prop_assert_eq!(val_to_json(&val), json, "as {}", type_name(&wit));
    }

    #[test]
    fn json_that_does_not_fit_is_bad_input_naming_the_type(ty in ty(), json in any_json()) {
        let wit = wasmtime_type(engine(), &ty);
        match val_from_json(&json, &wit) {
            // Some of it fits by chance: then it must round-trip too.
            Ok(val) => {
                let again = val_from_json(&val_to_json(&val), &wit).expect("its own JSON fits");
                prop_assert_eq!(val_to_json(&again), val_to_json(&val));
            }
            Err(e) => {
                let mut names = Vec::new();
                names_within(&wit, &mut names);
                prop_assert!(
                    names.iter().any(|n| e.message.contains(n.as_str())),
                    "{} for {} names none of its types: {}", json, type_name(&wit), e
                );
            }
        }
    }
}
