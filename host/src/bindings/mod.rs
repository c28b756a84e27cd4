//! What the code [`bindgen!`](crate::bindgen) generates stands on: the two traits that map
//! Rust values to mpwasm's JSON shapes and back ([`ToJson`], [`FromJson`]), their
//! implementations for the types WIT's structural types become (`Option`, `Result`, `Vec`,
//! tuples, primitives), and [`Call`], the future a typed `_async` method returns.
//!
//! The shapes are the ones every task input and result uses (see the README's value table):
//! records are objects keyed by their WIT field names, `option` is the value or `null`,
//! `result` is `{"ok": ..}` or `{"err": ..}`, a variant case is `"case"` or `{"case": ..}`,
//! an enum is its case's name, flags are an array of the names that are set, tuples and lists
//! are arrays, and NaN and the infinities are the strings `"NaN"`, `"inf"` and `"-inf"`.
//!
//! # `bindgen!`
//!
//! [`bindgen!`](crate::bindgen) reads the WIT a plugin is built from (`path = "wit"`, a file or
//! a folder with its `deps/`, from the crate's `Cargo.toml`; or `inline = "..."`) and the
//! world to bind (`world = "name"`, needed when the package has several), and generates, where
//! it is invoked:
//! - a Rust type per WIT record (a struct), variant and enum (enums), and flags (a struct of
//!   `bool`s), each with [`ToJson`], [`FromJson`] and serde in these shapes; an interface's
//!   types sit in a module named after it;
//! - a client named after the world (`DocPlugin<'p>` for `doc-plugin`), made with
//!   `DocPlugin::new(&pool)`, with a blocking method and an `_async` one (a [`Call`] future)
//!   per exported function, `with(CallOptions)` for per-call options, and one accessor per
//!   exported interface returning that interface's `Exports` client;
//! - per imported interface, a trait named after it that the application implements (each
//!   method gets the [`HostCallInfo`] and the decoded arguments; a function returning
//!   `result<T, E>` answers `Result<T, E>`, any other `Result<T, HostError>`), with
//!   `handler(Arc<impl Trait>)` and `add_to(builder, Arc<impl Trait>)` to register it.
//!
//! WIT the generated code could not compile is refused with an error naming what in it:
//! resources, `async func`, inline interfaces, tuples of more than 8, and two WIT names that
//! would become one Rust name in one place (`v1-2` and `v12`, an interface with a type of its
//! own name, an export named `new` or `with`). Interfaces mpwasm answers itself (WASI,
//! `mpwasm:shared`) get no bindings. The WIT files are tracked, so a WIT change rebuilds the
//! application, and code that does not follow it fails to compile:
//!
//! ```no_run
//! mpwasm::bindgen!(
//!     inline = "
//!         package example:notes;
//!         interface app {
//!             log: func(message: string);
//!         }
//!         world notes {
//!             import app;
//!             record note { title: string, stars: option<u8> }
//!             export rate: func(n: note) -> result<u8, string>;
//!         }
//!     ",
//!     world = "notes",
//! );
//!
//! struct App;
//! impl app::App for App {
//!     fn log(&self, _: &mpwasm::HostCallInfo<'_>, message: String) -> Result<(), mpwasm::HostError> {
//!         eprintln!("{message}");
//!         Ok(())
//!     }
//! }
//!
//! let builder = app::add_to(mpwasm::Pool::builder(), std::sync::Arc::new(App));
//! let pool = builder.build("notes.wasm")?;
//! let notes = Notes::new(&pool)?;
//! let note = Note { title: "a".into(), stars: Some(3) };
//! let stars: Result<u8, String> = notes.rate(&note)?;
//! # let _ = stars;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same application after the WIT's `rate` gained a parameter it does not pass:
//!
//! ```compile_fail,E0061
//! mpwasm::bindgen!(
//!     inline = "
//!         package example:notes;
//!         interface app {
//!             log: func(message: string);
//!         }
//!         world notes {
//!             import app;
//!             record note { title: string, stars: option<u8> }
//!             export rate: func(n: note, strict: bool) -> result<u8, string>;
//!         }
//!     ",
//!     world = "notes",
//! );
//!
//! struct App;
//! impl app::App for App {
//!     fn log(&self, _: &mpwasm::HostCallInfo<'_>, message: String) -> Result<(), mpwasm::HostError> {
//!         eprintln!("{message}");
//!         Ok(())
//!     }
//! }
//!
//! let builder = app::add_to(mpwasm::Pool::builder(), std::sync::Arc::new(App));
//! let pool = builder.build("notes.wasm")?;
//! let notes = Notes::new(&pool)?;
//! let note = Note { title: "a".into(), stars: Some(3) };
//! let stars: Result<u8, String> = notes.rate(&note)?;
//! # let _ = stars;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! And after `log` returned a value the application's trait method does not give:
//!
//! ```compile_fail,E0053
//! mpwasm::bindgen!(
//!     inline = "
//!         package example:notes;
//!         interface app {
//!             log: func(message: string) -> u32;
//!         }
//!         world notes {
//!             import app;
//!             export rate: func(stars: u8) -> u8;
//!         }
//!     ",
//!     world = "notes",
//! );
//!
//! struct App;
//! impl app::App for App {
//!     fn log(&self, _: &mpwasm::HostCallInfo<'_>, message: String) -> Result<(), mpwasm::HostError> {
//!         eprintln!("{message}");
//!         Ok(())
//!     }
//! }
//! ```

use serde_json::{Map, Value};

use crate::error::{ErrorKind, TaskError};
use crate::ids::TaskIndex;
use crate::imports::{HostCallInfo, HostError};
use crate::pool::{AsyncResult, Typed};
use crate::values::to_json;

/// The JSON crate the generated code uses (so an application need not depend on it).
pub use serde_json as json;

/// The serde crate the generated types implement (so an application need not depend on it).
pub use serde;

/// A Rust value that has a WIT type: its JSON in mpwasm's shapes.
pub trait ToJson {
    /// The value as mpwasm's JSON.
    fn to_json(&self) -> Value;
}

/// A Rust value that can be read from mpwasm's JSON for its WIT type.
pub trait FromJson: Sized {
    /// Reads the value.
    ///
    /// # Errors
    /// What does not fit, as a sentence naming what was expected.
    fn from_json(json: &Value) -> Result<Self, String>;
}

/// What `got` is, for a message.
fn shown(got: &Value) -> String {
    let text = got.to_string();
    if text.len() > 80 {
        format!("{}...", &text[..text.floor_char_boundary(77)])
    } else {
        text
    }
}

/// The error for a value of the wrong shape.
pub fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, got {}", shown(got))
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl FromJson for bool {
    fn from_json(json: &Value) -> Result<Self, String> {
        json.as_bool().ok_or_else(|| expected("a bool", json))
    }
}

macro_rules! integers {
    ($($t:ty: $wit:literal),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                Value::from(*self)
            }
        }

        impl FromJson for $t {
            fn from_json(json: &Value) -> Result<Self, String> {
                let wide = json
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| json.as_u64().map(i128::from));
                wide.and_then(|w| <$t>::try_from(w).ok())
                    .ok_or_else(|| expected(concat!("an integer that fits ", $wit), json))
            }
        }
    )*};
}

integers!(u8: "u8", u16: "u16", u32: "u32", u64: "u64", i8: "s8", i16: "s16", i32: "s32", i64: "s64");

fn float_from(json: &Value) -> Result<f64, String> {
    match json {
        Value::Number(n) => n.as_f64().ok_or_else(|| expected("a number", json)),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        _ => Err(expected("a number (or \"NaN\", \"inf\", \"-inf\")", json)),
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        to_json::float(*self)
    }
}

impl FromJson for f64 {
    fn from_json(json: &Value) -> Result<Self, String> {
        float_from(json)
    }
}

impl ToJson for f32 {
    fn to_json(&self) -> Value {
        // As the JSON path prints an f32: 0.1, not 0.1000000015.
        to_json::float32(*self)
    }
}

impl FromJson for f32 {
    fn from_json(json: &Value) -> Result<Self, String> {
        // As the JSON path does: the nearest f32.
        float_from(json).map(|x| x as f32)
    }
}

impl ToJson for char {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl FromJson for char {
    fn from_json(json: &Value) -> Result<Self, String> {
        let text = json
            .as_str()
            .ok_or_else(|| expected("a one-character string", json))?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(expected("a one-character string", json)),
        }
    }
}

impl ToJson for str {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FromJson for String {
    fn from_json(json: &Value) -> Result<Self, String> {
        json.as_str()
            .map(str::to_string)
            .ok_or_else(|| expected("a string", json))
    }
}

impl ToJson for () {
    fn to_json(&self) -> Value {
        Value::Null
    }
}

impl FromJson for () {
    fn from_json(json: &Value) -> Result<Self, String> {
        match json {
            Value::Null => Ok(()),
            _ => Err(expected("null (no value)", json)),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        self.as_slice().to_json()
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(json: &Value) -> Result<Self, String> {
        let items = json.as_array().ok_or_else(|| expected("an array", json))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_json(item).map_err(|e| format!("element {i}: {e}")))
            .collect()
    }
}

impl<T: ToJson, const N: usize> ToJson for [T; N] {
    fn to_json(&self) -> Value {
        self.as_slice().to_json()
    }
}

impl<T: FromJson, const N: usize> FromJson for [T; N] {
    fn from_json(json: &Value) -> Result<Self, String> {
        let items: Vec<T> = Vec::from_json(json)?;
        let len = items.len();
        items
            .try_into()
            .map_err(|_| format!("expected an array of {N} elements, got {len}"))
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(json: &Value) -> Result<Self, String> {
        match json {
            Value::Null => Ok(None),
            some => T::from_json(some).map(Some),
        }
    }
}

/// `{"name": value}`.
pub fn tagged(name: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(name.to_string(), value);
    Value::Object(map)
}

/// The case of a variant's (or a result's) JSON: `"case"` or `{"case": payload}`.
///
/// # Errors
/// When `json` is neither, naming `what`.
pub fn case_of<'a>(json: &'a Value, what: &str) -> Result<(&'a str, &'a Value), String> {
    match json {
        Value::String(name) => Ok((name, &Value::Null)),
        Value::Object(map) if map.len() == 1 => map
            .iter()
            .next()
            .map(|(name, payload)| (name.as_str(), payload))
            .ok_or_else(|| expected(what, json)),
        _ => Err(expected(what, json)),
    }
}

impl<T: ToJson, E: ToJson> ToJson for Result<T, E> {
    fn to_json(&self) -> Value {
        match self {
            Ok(t) => tagged("ok", t.to_json()),
            Err(e) => tagged("err", e.to_json()),
        }
    }
}

impl<T: FromJson, E: FromJson> FromJson for Result<T, E> {
    fn from_json(json: &Value) -> Result<Self, String> {
        match case_of(json, "{\"ok\": ..} or {\"err\": ..}")? {
            ("ok", payload) => T::from_json(payload)
                .map(Ok)
                .map_err(|e| format!("ok: {e}")),
            ("err", payload) => E::from_json(payload)
                .map(Err)
                .map_err(|e| format!("err: {e}")),
            _ => Err(expected("{\"ok\": ..} or {\"err\": ..}", json)),
        }
    }
}

macro_rules! tuples {
    ($(($($name:ident $i:tt),+))*) => {$(
        impl<$($name: ToJson),+> ToJson for ($($name,)+) {
            fn to_json(&self) -> Value {
                Value::Array(vec![$(self.$i.to_json()),+])
            }
        }

        impl<$($name: FromJson),+> FromJson for ($($name,)+) {
            fn from_json(json: &Value) -> Result<Self, String> {
                let n = [$($i),+].len();
                let items = json
                    .as_array()
                    .filter(|items| items.len() == n)
                    .ok_or_else(|| expected(&format!("an array of {n} elements"), json))?;
                Ok(($($name::from_json(&items[$i]).map_err(|e| format!("element {}: {e}", $i))?,)+))
            }
        }
    )*};
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// A field of a record's JSON object, `null` when absent (an `option` field may be left out).
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> &'a Value {
    object.get(name).unwrap_or(&Value::Null)
}

/// Argument `i` (named `name` in the WIT) of a host call, decoded into `T`.
///
/// # Errors
/// A [`HostError`] naming the argument when it is missing or does not fit.
pub fn arg<T: FromJson>(call: &HostCallInfo<'_>, i: usize, name: &str) -> Result<T, HostError> {
    let value = call.args().get(i).unwrap_or(&Value::Null);
    T::from_json(value).map_err(|e| {
        HostError::new(format!(
            "argument {i} (`{name}`) of `{}`: {e}",
            call.function()
        ))
    })
}

/// The [`HostError`] that makes a host function's `Err(err)` the guest's `err`: always the
/// value as its payload (a string is also the message; any other value's JSON text is), so
/// an enum case such as `"not-found"`, a `char` or a payload-less variant case reaches the
/// guest as its `err` too, not as a failed task.
pub fn err_value<E: ToJson>(err: &E) -> HostError {
    let value = err.to_json();
    let message = match &value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    HostError::with_value(message, value)
}

/// A call's result decoded into `R`: the value, or a `bad-input` error naming the function
/// and what did not fit.
///
/// # Errors
/// The task's error, or the decoding's.
pub fn decode<R: FromJson>(
    function: &str,
    result: Result<Value, TaskError>,
) -> Result<R, TaskError> {
    result.and_then(|value| {
        R::from_json(&value).map_err(|e| {
            TaskError::new(
                TaskIndex(0),
                ErrorKind::BadInput,
                format!("the result of `{function}` does not fit its WIT type: {e}"),
            )
        })
    })
}

/// The future a generated `_async` method returns: the call's result decoded into `R` by its
/// WIT type. Dropping it cancels the call, as dropping an [`AsyncResult`] does.
pub type Call<R> = Typed<R>;

impl<R: FromJson> Typed<R> {
    /// The call `call` of `function`, decoded into `R` when it ends.
    pub fn new(function: &'static str, call: AsyncResult) -> Call<R> {
        Typed::decoded_by(call, function, decode)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn structural_types_take_mpwasms_shapes() {
        let ok: Result<u32, String> = Ok(3);
        assert_eq!(ok.to_json(), json!({"ok": 3}));
        let unit: Result<(), String> = Err("no".into());
        assert_eq!(unit.to_json(), json!({"err": "no"}));
        assert_eq!(
            Result::<(), String>::from_json(&json!({"ok": null})),
            Ok(Ok(()))
        );
        assert_eq!(Some(f64::NAN).to_json(), json!("NaN"));
        assert_eq!(0.1f32.to_json(), json!(0.1));
        assert_eq!((7u8, "x".to_string()).to_json(), json!([7, "x"]));
        assert_eq!(
            <(u8, String)>::from_json(&json!([7, "x"])),
            Ok((7, "x".into()))
        );
        assert!(u8::from_json(&json!(256)).is_err());
        assert!(i8::from_json(&json!(-128)).is_ok());
        assert!(char::from_json(&json!("ab")).is_err());
        let err = Vec::<u32>::from_json(&json!([1, "2"])).expect_err("a string in the list");
        assert!(err.contains("element 1"), "{err}");
    }

    #[test]
    fn an_error_value_always_travels_as_the_payload() {
        // An enum case, a char or a payload-less variant case is a JSON string too: it must
        // reach the guest as its `err` value, whatever the error type is.
        let case = err_value(&'x');
        assert_eq!(case.value(), Some(&json!("x")));
        assert_eq!(case.message(), "x");
        let number = err_value(&404u32);
        assert_eq!(number.value(), Some(&json!(404)));
        assert_eq!(number.message(), "404");
    }
}
