//! The `mpwasm` binary: the CLI (`run`, `call`) and, re-executed as `mpwasm __worker`, a
//! worker process of a pool.

mod cli;

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == mpwasm::worker::WORKER_SUBCOMMAND)
    {
        std::process::exit(mpwasm::worker::main());
    }
    std::process::exit(cli::main());
}
