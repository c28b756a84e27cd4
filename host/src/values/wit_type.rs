//! WIT spellings of component types and function signatures, for messages and listings:
//! records are spelled out (`record {name: string, age: option<u8>}`) because a component
//! carries no type names.

use wasmtime::component::types::Type;

/// The WIT spelling of `ty`, with records, variants, enums and flags spelled out.
pub fn type_name(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty);
    out
}

/// `name: func(a: T, b: U) -> R`, as WIT writes a function.
pub fn signature(name: &str, params: &[(String, Type)], results: &[Type]) -> String {
    let mut out = format!("{name}: func(");
    for (i, (param, ty)) in params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(param);
        out.push_str(": ");
        write_type(&mut out, ty);
    }
    out.push(')');
    match results {
        [] => {}
        [one] => {
            out.push_str(" -> ");
            write_type(&mut out, one);
        }
        many => {
            out.push_str(" -> (");
            for (i, ty) in many.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_type(&mut out, ty);
            }
            out.push(')');
        }
    }
    out
}

fn write_list<I: Iterator<Item = String>>(out: &mut String, items: I) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&item);
    }
}

fn write_type(out: &mut String, ty: &Type) {
    match ty {
        Type::Bool => out.push_str("bool"),
        Type::S8 => out.push_str("s8"),
        Type::U8 => out.push_str("u8"),
        Type::S16 => out.push_str("s16"),
        Type::U16 => out.push_str("u16"),
        Type::S32 => out.push_str("s32"),
        Type::U32 => out.push_str("u32"),
        Type::S64 => out.push_str("s64"),
        Type::U64 => out.push_str("u64"),
        Type::Float32 => out.push_str("f32"),
        Type::Float64 => out.push_str("f64"),
        Type::Char => out.push_str("char"),
        Type::String => out.push_str("string"),
        Type::List(list) => {
            out.push_str("list<");
            write_type(out, &list.ty());
            out.push('>');
        }
        Type::FixedLengthList(list) => {
            out.push_str("list<");
            write_type(out, &list.ty());
            out.push_str(&format!(", {}>", list.len()));
        }
        Type::Map(map) => {
            out.push_str("map<");
            write_type(out, &map.key());
            out.push_str(", ");
            write_type(out, &map.value());
            out.push('>');
        }
        Type::Record(record) => {
            out.push_str("record {");
            write_list(
                out,
                record
                    .fields()
                    .map(|f| format!("{}: {}", f.name, type_name(&f.ty))),
            );
            out.push('}');
        }
        Type::Tuple(tuple) => {
            out.push_str("tuple<");
            write_list(out, tuple.types().map(|t| type_name(&t)));
            out.push('>');
        }
        Type::Variant(variant) => {
            out.push_str("variant {");
            write_list(
                out,
                variant.cases().map(|c| match &c.ty {
                    Some(ty) => format!("{}({})", c.name, type_name(ty)),
                    None => c.name.to_string(),
                }),
            );
            out.push('}');
        }
        Type::Enum(e) => {
            out.push_str("enum {");
            write_list(out, e.names().map(str::to_string));
            out.push('}');
        }
        Type::Flags(flags) => {
            out.push_str("flags {");
            write_list(out, flags.names().map(str::to_string));
            out.push('}');
        }
        Type::Option(option) => {
            out.push_str("option<");
            write_type(out, &option.ty());
            out.push('>');
        }
        Type::Result(result) => match (result.ok(), result.err()) {
            (None, None) => out.push_str("result"),
            (Some(ok), None) => {
                out.push_str("result<");
                write_type(out, &ok);
                out.push('>');
            }
            (ok, Some(err)) => {
                out.push_str("result<");
                match ok {
                    Some(ok) => write_type(out, &ok),
                    None => out.push('_'),
                }
                out.push_str(", ");
                write_type(out, &err);
                out.push('>');
            }
        },
        Type::Own(_) => out.push_str("own<resource>"),
        Type::Borrow(_) => out.push_str("borrow<resource>"),
        Type::Future(f) => match f.ty() {
            Some(ty) => out.push_str(&format!("future<{}>", type_name(&ty))),
            None => out.push_str("future"),
        },
        Type::Stream(s) => match s.ty() {
            Some(ty) => out.push_str(&format!("stream<{}>", type_name(&ty))),
            None => out.push_str("stream"),
        },
        Type::ErrorContext => out.push_str("error-context"),
    }
}

/// Why `ty` cannot travel as JSON, if it cannot (resources, futures, streams, error contexts,
/// anywhere inside it).
pub fn unsupported_reason(ty: &Type) -> Option<String> {
    let inner = |t: &Type| unsupported_reason(t);
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some(format!(
            "{} is a resource handle, which has no JSON form",
            type_name(ty)
        )),
        Type::Future(_) | Type::Stream(_) | Type::ErrorContext => Some(format!(
            "{} is a component-model async type, which mpwasm does not support yet",
            type_name(ty)
        )),
        Type::List(l) => inner(&l.ty()),
        Type::FixedLengthList(l) => inner(&l.ty()),
        Type::Map(m) => inner(&m.key()).or_else(|| inner(&m.value())),
        Type::Option(o) => inner(&o.ty()),
        Type::Result(r) => r
            .ok()
            .and_then(|t| inner(&t))
            .or_else(|| r.err().and_then(|t| inner(&t))),
        Type::Record(r) => r.fields().find_map(|f| inner(&f.ty)),
        Type::Tuple(t) => t.types().find_map(|t| inner(&t)),
        Type::Variant(v) => v.cases().find_map(|c| c.ty.as_ref().and_then(inner)),
        _ => None,
    }
}
