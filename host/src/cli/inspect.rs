//! `mpwasm inspect TASK.wasm`: what a module is (component or core module, task or program),
//! each export with its full WIT signature (the same printing error messages use), what it
//! imports and what the host grants for each (or that the application embedding mpwasm must
//! answer it), its size before and after compiling, and how much data a new instance's
//! memory starts with (and whether it is copied or mapped). With
//! `--json`, the same as one JSON object.

use anyhow::Result;
use mpwasm::Task;
use mpwasm::limits::{Limits, format_size};
use mpwasm::sandbox::engine::{EngineSettings, MemoryInit};
use mpwasm::task::memory_init;
use serde_json::json;

use super::ExitCode;
use super::args::InspectArgs;

/// What mpwasm gives a module for an import, in a few words.
fn grant(import: &str) -> &'static str {
    let name = import.split_once('@').map_or(import, |(n, _)| n);
    match name {
        n if n.starts_with("wasi:filesystem/") => "files: only directories granted with --dir",
        n if n.starts_with("wasi:http/") => "HTTP: only hosts allowed with --allow-http",
        n if n.starts_with("wasi:sockets/") => "sockets: always refused",
        "wasi:cli/environment" => "environment: only --env variables; arguments for programs",
        "wasi:cli/stdin" => "stdin: empty, or the input with --stdin (programs)",
        "wasi:cli/stdout" | "wasi:cli/stderr" => "output: captured per task (--output-limit)",
        n if n.starts_with("wasi:cli/terminal") => "terminal: none",
        "wasi:cli/exit" => "exit: the program's status",
        n if n.starts_with("wasi:clocks/") => "clocks: provided",
        n if n.starts_with("wasi:random/") => "random numbers: provided",
        n if n.starts_with("wasi:io/") => "streams: provided",
        n if n.starts_with("wasi_snapshot_preview1#") => core_grant(n),
        "mpwasm:shared/kv" => "shared store: keys and counters of the job (mpwasm answers it)",
        "mpwasm:shared/queue" => "shared queues of the job (mpwasm answers it)",
        "mpwasm:shared/work" => "adds inputs to the running job (mpwasm answers it)",
        n if n.starts_with("mpwasm:shared/") => {
            "mpwasm:shared, but not an interface this mpwasm knows: loading fails"
        }
        _ => "the application's (PoolBuilder::host); `mpwasm run` cannot load it",
    }
}

/// The same for a WASI preview 1 function.
fn core_grant(name: &str) -> &'static str {
    let function = name.split_once('#').map_or(name, |(_, f)| f);
    match function {
        f if f.starts_with("path_") || f.starts_with("fd_") && f != "fd_write" => {
            "files: only directories granted with --dir"
        }
        "fd_write" => "output: captured per task (--output-limit)",
        f if f.starts_with("environ_") => "environment: only --env variables",
        f if f.starts_with("args_") => "arguments: for programs, from the input",
        f if f.starts_with("sock_") => "sockets: always refused",
        f if f.starts_with("clock_") => "clocks: provided",
        "random_get" => "random numbers: provided",
        "proc_exit" => "exit: the program's status",
        _ => "provided",
    }
}

/// Runs the command.
///
/// # Errors
/// When the module cannot be loaded.
pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let source_size = std::fs::metadata(&args.task).map(|m| m.len()).ok();
    // Imports beyond WASI are shown (an application embedding mpwasm may answer them), not
    // refused.
    let task = Task::load_for_inspection(
        args.task.as_path(),
        EngineSettings::for_limits(&Limits::for_processes(1)),
    )?;
    let compiled_size = std::fs::metadata(task.artifact()).map(|m| m.len()).ok();
    let data_size = std::fs::read(&args.task)
        .ok()
        .and_then(|bytes| memory_init::active_data_bytes(&bytes));
    let copied = task.memory_init() == MemoryInit::Copy;
    let program = task.program_export().map(|f| f.path.to_string());
    let kind = match (&program, task.kind()) {
        (Some(_), mpwasm::ModuleKind::Component) => "component, a WASI program (wasi:cli/run)",
        (Some(_), mpwasm::ModuleKind::Core) => "core module, a WASI program (_start)",
        (None, mpwasm::ModuleKind::Component) => "component with task functions",
        (None, mpwasm::ModuleKind::Core) => "core module with task functions",
    };
    if args.json {
        let exports: Vec<_> = task
            .functions()
            .iter()
            .map(|f| {
                json!({
                    "name": f.path.to_string(),
                    "signature": f.signature(),
                    "callable": f.unsupported.is_none(),
                    "why_not": f.unsupported,
                    "toolchain_hook": f.toolchain_hook(),
                })
            })
            .collect();
        let imports: Vec<_> = task
            .imports()
            .iter()
            .map(|i| json!({"name": i, "grant": grant(i)}))
            .collect();
        let value = json!({
            "path": args.task.display().to_string(),
            "kind": match task.kind() {
                mpwasm::ModuleKind::Component => "component",
                mpwasm::ModuleKind::Core => "core",
            },
            "program": program.is_some(),
            "size": source_size,
            "compiled_size": compiled_size,
            "data_size": data_size,
            "memory_init": if copied { "copy" } else { "copy-on-write" },
            "exports": exports,
            "imports": imports,
        });
        println!("{value:#}");
        return Ok(ExitCode::Success);
    }
    let size = |s: Option<u64>| s.map_or_else(|| "?".to_string(), format_size);
    println!("{}: {kind}", args.task.display());
    println!(
        "size: {} ({} compiled for this machine)",
        size(source_size),
        size(compiled_size)
    );
    println!(
        "memory: {} of data, {} each new instance",
        size(data_size),
        if copied {
            "copied into"
        } else {
            "mapped copy-on-write into"
        }
    );
    println!("\nexports:");
    let (hooks, tasks): (Vec<_>, Vec<_>) = task
        .functions()
        .iter()
        .partition(|f| f.toolchain_hook().is_some());
    for f in tasks {
        match &f.unsupported {
            None => println!("  {}", f.signature()),
            Some(why) => println!("  {}    [cannot be called: {why}]", f.signature()),
        }
    }
    for f in hooks {
        // A toolchain's own hook: named, not its (long) signature; no run picks it.
        println!(
            "  {}    [{}'s own hook, not a task function]",
            f.path,
            f.toolchain_hook().unwrap_or("the toolchain")
        );
    }
    if let Some(run) = &program {
        println!(
            "\nrun it once per input with `mpwasm run {} --map 0..3 -- ARGS` ({run})",
            args.task.display()
        );
    }
    println!("\nimports:");
    if task.imports().is_empty() {
        println!("  none");
    }
    for import in task.imports() {
        println!("  {import:<44} {}", grant(import));
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_name_the_flag() {
        assert!(grant("wasi:filesystem/preopens@0.2.6").contains("--dir"));
        assert!(grant("wasi:http/outgoing-handler@0.2.6").contains("--allow-http"));
        assert!(grant("wasi_snapshot_preview1#path_open").contains("--dir"));
        assert!(grant("wasi_snapshot_preview1#fd_write").contains("captured"));
        assert!(grant("acme:db/query").contains("cannot load"));
    }
}
