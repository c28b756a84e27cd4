//! Choosing among a module's exported functions: the function to call (`--func`) and the init
//! function (`--init`), with messages that list what the module exports.

use std::path::Path;

use crate::error::Error;
use crate::sandbox::exports::ExportedFunction;
use crate::vocab::FunctionPath;

/// The listing used in messages: one indented signature per line (a toolchain's own hooks
/// left out).
pub fn listing(functions: &[ExportedFunction]) -> String {
    functions
        .iter()
        .filter(|f| f.toolchain_hook().is_none())
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
pub fn function<'a>(
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
                // A bare name also matches a function inside the only interface that has it
                // (a toolchain's hook only by its full name).
                .or_else(|| {
                    let mut inside = functions.iter().filter(|f| {
                        path.interface.is_none()
                            && f.path.name == path.name
                            && f.toolchain_hook().is_none()
                    });
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
            let candidates: Vec<&ExportedFunction> = functions
                .iter()
                .filter(|f| !is_default_init(f) && f.toolchain_hook().is_none())
                .collect();
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
            let f = function(functions, Some(name), source)?;
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
