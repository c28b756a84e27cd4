//! The command line, in two stages: [`args`] (raw flags, as clap parses them) and [`settings`]
//! (one checked settings value per subcommand), then one module per subcommand over the
//! library ([`run`], [`call`], [`test`], [`inspect`], [`new`], [`worker`]). Errors that stop a
//! run before it starts print one line and exit 2.

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
use settings::{CallSettings, RunSettings, TestSettings, WorkerSettings};

/// Parses the command line, checks it, runs the subcommand; returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => RunSettings::new(args).and_then(run::run),
        Command::Call(args) => CallSettings::new(args).and_then(call::run),
        Command::Test(args) => TestSettings::new(args).and_then(test::run),
        Command::Inspect(args) => inspect::run(args),
        Command::New(args) => new::run(args),
        Command::Worker(args) => WorkerSettings::new(args).and_then(worker::run),
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
