//! [`Program`]: runs a task module as a WASI program, once per task, each run in a new
//! instance with its own arguments and standard input (see [`crate::vocab::command`]). Its
//! stdout and stderr are captured apart and returned as the task's value
//! `{"exit":C,"stdout":..,"stderr":..}`. A non-zero exit status is a failure of kind `exit`
//! that still carries that value; a run stopped before its end (timeout, memory limit, trap)
//! carries it too, with `"exit": null`.

use compact_str::CompactString;
use wasmtime::{Engine, Store};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::sync::CommandPre;

use super::classify::classify;
use super::linker;
use super::module::Loaded;
use super::output::OutputCapture;
use super::state::SandboxState;
use crate::error::ErrorKind;
use crate::limits::Limits;
use crate::vocab::{
    CapturedOutput, CommandSpec, Grants, ProgramRun, WireFailure, WireOutcome, WireTask,
};

/// The core module's entry point.
const START: &str = "_start";

enum Pre {
    Component(CommandPre<SandboxState>),
    Core(wasmtime::InstancePre<SandboxState>),
}

/// What every run shares with the sandbox that owns the program.
pub struct RunContext<'a> {
    /// The worker's engine.
    pub engine: &'a Engine,
    /// The per-task limits.
    pub limits: &'a Limits,
    /// The capabilities granted.
    pub grants: &'a Grants,
    /// The epoch deadline of one run.
    pub deadline_ticks: u64,
    /// Where the program's stderr goes.
    pub stderr: &'a OutputCapture,
}

/// A WASI program ready to run (see the module docs).
pub struct Program {
    pre: Pre,
    spec: CommandSpec,
    stdout: OutputCapture,
}

impl Program {
    /// Links the loaded module as a program.
    ///
    /// # Errors
    /// When the module is not a WASI program (no `wasi:cli/run` export, no `_start`).
    pub(crate) fn new(
        engine: &Engine,
        loaded: &Loaded,
        spec: CommandSpec,
        output_limit: u64,
    ) -> Result<Program, String> {
        let pre = match loaded {
            Loaded::Component(c) => {
                let linker = linker::component(engine).map_err(|e| format!("{e:#}"))?;
                let pre = linker
                    .instantiate_pre(c)
                    .map_err(|e| format!("cannot link the program: {e:#}"))?;
                Pre::Component(CommandPre::new(pre).map_err(|e| {
                    format!("the module is not a WASI program (no wasi:cli/run export): {e:#}")
                })?)
            }
            Loaded::Core(m) => {
                if m.get_export(START).is_none() {
                    return Err("the core module is not a WASI program (no `_start`)".into());
                }
                let linker = linker::core(engine).map_err(|e| format!("{e:#}"))?;
                Pre::Core(
                    linker
                        .instantiate_pre(m)
                        .map_err(|e| format!("cannot link the program: {e:#}"))?,
                )
            }
        };
        Ok(Program {
            pre,
            spec,
            stdout: OutputCapture::new(output_limit),
        })
    }

    /// Runs the program once for `task` in a new instance.
    pub fn run(&mut self, cx: &RunContext<'_>, task: &WireTask) -> WireOutcome {
        let exit = self.run_to_exit(cx, &task.input);
        let stdout = self.stdout.take();
        let stderr = cx.stderr.take();
        let dropped = stdout.dropped + stderr.dropped;
        let output = CapturedOutput {
            bytes: Vec::new(),
            dropped,
        };
        let value = |exit: Option<i32>| {
            let run = ProgramRun {
                exit,
                stdout: String::from_utf8_lossy(&stdout.bytes).into_owned(),
                stderr: String::from_utf8_lossy(&stderr.bytes).into_owned(),
            };
            // Serializing strings and an integer cannot fail.
            CompactString::from(serde_json::to_string(&run).unwrap_or_default())
        };
        let result = match exit {
            Ok(0) => Ok(value(Some(0))),
            Ok(code) => Err(WireFailure {
                kind: ErrorKind::Exit,
                message: format!("the program exited with status {code}"),
                value: Some(value(Some(code))),
            }),
            // It never started: nothing to show.
            Err(failure) if failure.kind == ErrorKind::BadInput => Err(failure),
            // Stopped before its end: what it printed so far goes with the error.
            Err(mut failure) => {
                failure.value = Some(value(None));
                Err(failure)
            }
        };
        WireOutcome {
            index: task.index,
            result: result.map_err(Box::new),
            output,
            nanos: 0,
        }
    }

    /// Runs to the program's exit and returns its status, or why it did not get there.
    fn run_to_exit(&mut self, cx: &RunContext<'_>, input: &str) -> Result<i32, WireFailure> {
        let run = self
            .spec
            .invocation(input)
            .map_err(|message| WireFailure::new(ErrorKind::BadInput, message))?;
        let state =
            SandboxState::for_program(cx.limits.memory, &self.stdout, cx.stderr, cx.grants, &run)
                .map_err(|e| {
                WireFailure::new(
                    ErrorKind::Trap,
                    format!("cannot open a granted directory: {e:#}"),
                )
            })?;
        let mut store = Store::new(cx.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(cx.deadline_ticks);
        if let Some(fuel) = cx.limits.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| WireFailure::new(ErrorKind::Trap, format!("{e:#}")))?;
        }
        let ran = match &self.pre {
            Pre::Component(pre) => pre.instantiate(&mut store).and_then(|command| {
                command
                    .wasi_cli_run()
                    .call_run(&mut store)
                    .map(|status| if status.is_ok() { 0 } else { 1 })
            }),
            Pre::Core(pre) => pre.instantiate(&mut store).and_then(|instance| {
                instance
                    .get_typed_func::<(), ()>(&mut store, START)?
                    .call(&mut store, ())
                    .map(|()| 0)
            }),
        };
        match ran {
            Ok(code) => Ok(code),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Ok(*code),
                None => {
                    let refused = store.data().limiter.refused();
                    Err(classify(&e, refused, cx.limits, &cx.stderr.contents()))
                }
            },
        }
    }
}
