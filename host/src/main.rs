//! The `mpwasm` binary: the CLI (`run`, `call`, `test`, ...) and, re-executed as
//! `mpwasm __worker`, a worker process of a pool.

mod cli;

fn main() -> std::process::ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == mpwasm::worker::WORKER_SUBCOMMAND)
    {
        std::process::exit(mpwasm::worker::main());
    }
    cli::main().into()
}
