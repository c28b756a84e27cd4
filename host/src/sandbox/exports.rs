//! A compiled module's exported functions with their WIT signatures, read from wasmtime's
//! types: the host lists them to choose the function and to explain choices; a worker finds
//! the one it calls and its parameter types.

use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::{Engine, ExternType, ValType};

use super::module::Loaded;
use crate::values::signature;
use crate::values::wit_type::unsupported_reason;
use crate::vocab::FunctionPath;

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

    /// The toolchain that exports this function for its own use, when it is such a hook:
    /// componentize-py's `exports#init(app-name, symbols, stub-wasi)`, which its build calls to
    /// set up the Python interpreter. A hook is never chosen by default nor by a bare name
    /// (`--func init`), and listings show it apart.
    pub fn toolchain_hook(&self) -> Option<&'static str> {
        let names: Vec<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
        let componentize_py = self.path.interface.as_deref() == Some("exports")
            && self.path.name == "init"
            && names == ["app-name", "symbols", "stub-wasi"];
        componentize_py.then_some("componentize-py")
    }
}

/// Lists every exported function, top level and inside exported interfaces.
pub(crate) fn list(engine: &Engine, loaded: &Loaded) -> Vec<ExportedFunction> {
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
                    // An unsupported type shows as s32 in the signature, so the reason says
                    // where it sits and what it really is.
                    let mut unsupported = None;
                    let mut convert = |what: String, t: ValType| match t {
                        ValType::I32 => Type::S32,
                        ValType::I64 => Type::S64,
                        ValType::F32 => Type::Float32,
                        ValType::F64 => Type::Float64,
                        other => {
                            unsupported.get_or_insert(format!(
                                "its {what} is core type {other}, which cannot be passed as \
                                 JSON (only i32, i64, f32 and f64 can)"
                            ));
                            Type::S32
                        }
                    };
                    let params = func
                        .params()
                        .enumerate()
                        .map(|(i, t)| (format!("p{i}"), convert(format!("parameter p{i}"), t)))
                        .collect();
                    let results = func
                        .results()
                        .enumerate()
                        .map(|(i, t)| convert(format!("result {i}"), t))
                        .collect();
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
