//! Imports the application answers: a plugin calls the application's functions. The
//! application registers a [`HostHandler`] per imported interface (or per function the world
//! imports directly) with [`PoolBuilder::host`](crate::PoolBuilder::host); each call reaches
//! it as a [`HostCallInfo`] with JSON arguments, the task's index and the call's context, and
//! its value or [`HostError`] goes back to the guest.
//!
//! Handlers run on threads that serve each worker's call socket (`pool/handlers.rs`), never on
//! the dispatcher's, so a slow handler never stalls scheduling; inside the worker the call
//! waits only until its deadline ([`crate::sandbox::host_calls`]).

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::ids::TaskIndex;

/// One call a guest made to an import the application answers.
#[derive(Debug)]
pub struct HostCallInfo<'a> {
    pub(crate) import: &'a str,
    pub(crate) function: &'a str,
    pub(crate) args: &'a [Json],
    pub(crate) task: TaskIndex,
    pub(crate) context: &'a Json,
}

impl<'a> HostCallInfo<'a> {
    /// The import as registered: the interface (`example:app/store`), or the function's name
    /// for a function the world imports directly.
    pub fn import(&self) -> &'a str {
        self.import
    }

    /// The function called (`get`); equal to [`import`](Self::import) for a direct import.
    pub fn function(&self) -> &'a str {
        self.function
    }

    /// The arguments in parameter order, as JSON (the mapping task inputs use: records are
    /// objects, `option` is the value or `null`, variants are `{"case": payload}`).
    pub fn args(&self) -> &'a [Json] {
        self.args
    }

    /// Argument `i` as a `T`.
    ///
    /// # Errors
    /// A [`HostError`] naming the argument when there is none or it is not a `T`; returned
    /// from the handler, it fails the call like any other error.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, HostError> {
        let value = self.args.get(i).ok_or_else(|| {
            HostError::new(format!(
                "`{}` has no argument {i} (it got {})",
                self.function,
                self.args.len()
            ))
        })?;
        T::deserialize(value)
            .map_err(|e| HostError::new(format!("argument {i} of `{}`: {e}", self.function)))
    }

    /// The index of the task whose guest made the call.
    pub fn task(&self) -> TaskIndex {
        self.task
    }

    /// The context of the call the task belongs to (`null` when none was given). It stays on
    /// the host: the guest never sees it.
    pub fn context(&self) -> &'a Json {
        self.context
    }
}

/// A handler's error. When the WIT function returns a `result`, it becomes the guest's `err`
/// (the message for `result<_, string>`, else the value given with
/// [`with_value`](Self::with_value)); otherwise the task fails with kind `host-error`, naming
/// the function and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    message: String,
    value: Option<Json>,
}

impl HostError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
            value: None,
        }
    }

    /// An error whose `err` payload is `value` (for a function returning `result<_, E>` with
    /// an `E` other than `string`); `message` is shown if the task fails.
    pub fn with_value(message: impl Into<String>, value: impl Serialize) -> HostError {
        HostError {
            message: message.into(),
            value: serde_json::to_value(value).ok(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `err` payload, if one was given.
    pub fn value(&self) -> Option<&Json> {
        self.value.as_ref()
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostError {}

impl From<String> for HostError {
    fn from(message: String) -> HostError {
        HostError::new(message)
    }
}

impl From<&str> for HostError {
    fn from(message: &str) -> HostError {
        HostError::new(message)
    }
}

impl From<serde_json::Error> for HostError {
    fn from(e: serde_json::Error) -> HostError {
        HostError::new(e.to_string())
    }
}

/// Answers the calls to one import. Any `Fn(&HostCallInfo) -> Result<Json, HostError>` is
/// one. Its value is the function's result as JSON (for a function returning `result<T, E>`,
/// the `T`; `null` for a function without a result). A handler that panics fails the task
/// that called it, never the pool.
pub trait HostHandler: Send + Sync + 'static {
    /// Answers one call.
    ///
    /// # Errors
    /// The [`HostError`] the guest (or the task) gets.
    fn call(&self, call: &HostCallInfo<'_>) -> Result<Json, HostError>;
}

impl<F> HostHandler for F
where
    F: Fn(&HostCallInfo<'_>) -> Result<Json, HostError> + Send + Sync + 'static,
{
    fn call(&self, call: &HostCallInfo<'_>) -> Result<Json, HostError> {
        self(call)
    }
}

/// The handlers of a pool, by import name.
#[derive(Clone, Default)]
pub struct HostImports {
    handlers: Vec<(String, Arc<dyn HostHandler>)>,
}

impl HostImports {
    /// Registers `handler` for `import` (an interface such as `example:app/store`, or a
    /// function the world imports directly); a second handler for the same import replaces
    /// the first.
    pub fn insert(&mut self, import: impl Into<String>, handler: Arc<dyn HostHandler>) {
        let import = import.into();
        self.handlers.retain(|(name, _)| *name != import);
        self.handlers.push((import, handler));
    }

    /// The registered import names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.handlers.iter().map(|(name, _)| name.as_str())
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// The handler for `import`.
    pub(crate) fn get(&self, import: &str) -> Option<&Arc<dyn HostHandler>> {
        self.handlers
            .iter()
            .find(|(name, _)| name == import)
            .map(|(_, handler)| handler)
    }
}

impl fmt::Debug for HostImports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
