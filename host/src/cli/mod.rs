//! The command line: [`args`] (raw flags), [`settings`] (checked settings), and one file per
//! subcommand ([`run`], [`call`], [`test`], [`inspect`], [`new`], [`worker`]) over the library. Errors that stop a run before it starts
//! print one line and exit 2.

mod args;
mod call;
mod inspect;
mod new;
mod run;
mod settings;
mod style;
mod test;
mod worker;

use clap::Parser;

use args::{Cli, Command};

/// Parses the command line, runs the subcommand, returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Call(args) => call::run(args),
        Command::Test(args) => test::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::New(args) => new::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "mpwasm", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mpwasm: error: {error:#}");
            2
        }
    }
}
