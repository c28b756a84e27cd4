//! The `kitchen` world: identity functions for every WIT type family in the exported `types`
//! interface, plus top-level functions with records, variants, results, several parameters, no
//! parameters and no result. The host's value conversion is tested against this component.

use bindings::exports::mpwasm::tasks::types::{self, Perms};
use bindings::{Color, Guest, LookupError, Person, Shape, Summary};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
// `describe` takes eight flattened core parameters in the generated glue.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "kitchen" });
}

/// Youngest age `describe` accepts.
const ADULT_AGE: u8 = 18;

struct Task;

impl Guest for Task {
    fn describe(p: Person, shape: Shape, c: Color) -> Result<Summary, LookupError> {
        let name = p.name.trim();
        if name.is_empty() {
            return Err(LookupError::UnknownName);
        }
        if let Some(age) = p.age
            && age < ADULT_AGE
        {
            return Err(LookupError::TooYoung(age));
        }
        let age = p.age.map_or_else(|| "?".to_owned(), |age| age.to_string());
        let (shape_name, area) = match shape {
            Shape::Circle(radius) => ("circle", Some(std::f64::consts::PI * radius * radius)),
            Shape::Rect((width, height)) => ("rect", Some(width * height)),
            Shape::Point => ("point", None),
        };
        let colour_name = match c {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
        };
        Ok(Summary {
            label: format!("{name} ({age}) drew a {colour_name} {shape_name}"),
            area,
            colour: c,
        })
    }

    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn answer() -> u32 {
        42
    }

    fn nothing(_x: u32) {}
}

impl types::Guest for Task {
    fn echo_bool(x: bool) -> bool {
        x
    }

    fn echo_s8(x: i8) -> i8 {
        x
    }

    fn echo_u8(x: u8) -> u8 {
        x
    }

    fn echo_s16(x: i16) -> i16 {
        x
    }

    fn echo_u16(x: u16) -> u16 {
        x
    }

    fn echo_s32(x: i32) -> i32 {
        x
    }

    fn echo_u32(x: u32) -> u32 {
        x
    }

    fn echo_s64(x: i64) -> i64 {
        x
    }

    fn echo_u64(x: u64) -> u64 {
        x
    }

    fn echo_f32(x: f32) -> f32 {
        x
    }

    fn echo_f64(x: f64) -> f64 {
        x
    }

    fn echo_char(x: char) -> char {
        x
    }

    fn echo_string(x: String) -> String {
        x
    }

    fn echo_list(x: Vec<u32>) -> Vec<u32> {
        x
    }

    fn echo_tuple(x: (u8, String)) -> (u8, String) {
        x
    }

    fn echo_record(x: types::Person) -> types::Person {
        x
    }

    fn echo_option(x: Option<String>) -> Option<String> {
        x
    }

    fn echo_result(x: Result<u32, String>) -> Result<u32, String> {
        x
    }

    fn echo_enum(x: types::Color) -> types::Color {
        x
    }

    fn echo_variant(x: types::Shape) -> types::Shape {
        x
    }

    fn echo_flags(x: Perms) -> Perms {
        x
    }

    fn echo_nested(x: Vec<Option<types::Person>>) -> Vec<Option<types::Person>> {
        x
    }
}

bindings::export!(Task with_types_in bindings);
