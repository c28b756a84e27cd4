//! A module's exported functions with their signatures, and the choice of the function to
//! call (`--func`) and of the init function (`--init`).

use std::path::Path;

use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::{Engine, ExternType, ValType};

use super::FunctionPath;
use super::loaded::Loaded;
use crate::error::Error;
use crate::values::signature;
use crate::values::wit_type::unsupported_reason;

/// An exported function: where it is and its WIT signature (core modules' `i32`/`i64`/`f32`/
/// `f64` appear as `s32`/`s64`/`f32`/`f64`).
#[derive(Debug, Clone)]
pub struct ExportedFunction {
    /// Its name, with its interface if it sits in one.
    pub path: FunctionPath,
    /// Parameter names and types.
    pub params: Vec<(String, Type)>,
    /// Result types (at most one for components).
    pub results: Vec<Type>,
    /// Why it cannot be called with JSON, if it cannot.
    pub unsupported: Option<String>,
}

impl ExportedFunction {
    /// `name: func(x: u64) -> u64`.
    pub fn signature(&self) -> String {
        signature(&self.path.to_string(), &self.params, &self.results)
    }
}

/// Lists every exported function, top level and inside exported interfaces.
pub fn list(engine: &Engine, loaded: &Loaded) -> Vec<ExportedFunction> {
    let mut out = Vec::new();
    match loaded {
        Loaded::Component(component) => {
            let ty = component.component_type();
            for (name, export) in ty.exports(engine) {
                match export.ty {
                    ComponentItem::ComponentFunc(func) => {
                        out.push(component_func(None, name, &func))
                    }
                    ComponentItem::ComponentInstance(instance) => {
                        for (inner, export) in instance.exports(engine) {
                            if let ComponentItem::ComponentFunc(func) = export.ty {
                                out.push(component_func(Some(name), inner, &func));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Loaded::Core(module) => {
            for export in module.exports() {
                let name = export.name();
                if name.starts_with("__") || name.starts_with("cabi_") {
                    continue;
                }
                if let ExternType::Func(func) = export.ty() {
                    let mut unsupported = None;
                    let mut convert = |t: ValType| match t {
                        ValType::I32 => Type::S32,
                        ValType::I64 => Type::S64,
                        ValType::F32 => Type::Float32,
                        ValType::F64 => Type::Float64,
                        other => {
                            unsupported = Some(format!(
                                "core type {other} cannot be passed as JSON (only i32, i64, f32, f64)"
                            ));
                            Type::S32
                        }
                    };
                    let params = func
                        .params()
                        .enumerate()
                        .map(|(i, t)| (format!("p{i}"), convert(t)))
                        .collect();
                    let results = func.results().map(&mut convert).collect();
                    out.push(ExportedFunction {
                        path: FunctionPath {
                            interface: None,
                            name: name.to_string(),
                        },
                        params,
                        results,
                        unsupported,
                    });
                }
            }
        }
    }
    out
}

fn component_func(
    interface: Option<&str>,
    name: &str,
    func: &wasmtime::component::types::ComponentFunc,
) -> ExportedFunction {
    let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_string(), t)).collect();
    let results: Vec<Type> = func.results().collect();
    let unsupported = if func.async_() {
        Some("it is an async function, which mpwasm does not support yet".to_string())
    } else {
        params
            .iter()
            .map(|(_, t)| t)
            .chain(&results)
            .find_map(unsupported_reason)
    };
    ExportedFunction {
        path: FunctionPath {
            interface: interface.map(str::to_string),
            name: name.to_string(),
        },
        params,
        results,
        unsupported,
    }
}

/// The listing used in messages: one indented signature per line.
pub fn listing(functions: &[ExportedFunction]) -> String {
    functions
        .iter()
        .map(|f| format!("  {}", f.signature()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_default_init(f: &ExportedFunction) -> bool {
    f.path.interface.is_none() && f.path.name == "init" && f.params.is_empty()
}

/// Chooses the function to call (see [`crate::task::Task::function`]).
///
/// # Errors
/// When the name is unknown, no name was given and several functions qualify, or the function
/// cannot be called with JSON values.
pub fn choose<'a>(
    functions: &'a [ExportedFunction],
    requested: Option<&str>,
    source: &Path,
) -> Result<&'a ExportedFunction, Error> {
    let chosen = match requested {
        Some(name) => {
            let path = FunctionPath::parse(name);
            functions
                .iter()
                .find(|f| f.path == path)
                // A bare name also matches a function inside the only interface that has it.
                .or_else(|| {
                    let mut inside = functions
                        .iter()
                        .filter(|f| path.interface.is_none() && f.path.name == path.name);
                    match (inside.next(), inside.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                })
                .ok_or_else(|| Error::NoSuchFunction {
                    path: source.to_path_buf(),
                    name: name.to_string(),
                    available: listing(functions),
                })?
        }
        None => {
            let candidates: Vec<&ExportedFunction> =
                functions.iter().filter(|f| !is_default_init(f)).collect();
            match candidates.as_slice() {
                [] => {
                    return Err(Error::NoFunctions {
                        path: source.to_path_buf(),
                    });
                }
                [one] => *one,
                _ => {
                    return Err(Error::AmbiguousFunction {
                        path: source.to_path_buf(),
                        available: listing(functions),
                    });
                }
            }
        }
    };
    if let Some(reason) = &chosen.unsupported {
        return Err(Error::UnsupportedSignature {
            function: chosen.signature(),
            reason: reason.clone(),
        });
    }
    Ok(chosen)
}

/// Chooses the init function (see [`crate::task::Task::init_function`]).
///
/// # Errors
/// When a named init does not exist or takes arguments.
pub fn init<'a>(
    functions: &'a [ExportedFunction],
    requested: Option<&str>,
    source: &Path,
) -> Result<Option<&'a ExportedFunction>, Error> {
    match requested {
        None => Ok(functions.iter().find(|f| is_default_init(f))),
        Some(name) => {
            let f = choose(functions, Some(name), source)?;
            if !f.params.is_empty() {
                return Err(Error::UnsupportedSignature {
                    function: f.signature(),
                    reason: "an init function must take no arguments".to_string(),
                });
            }
            Ok(Some(f))
        }
    }
}
