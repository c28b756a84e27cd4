//! The command line, in two stages: [`args`] (raw flags, as clap parses them) and [`settings`]
//! (one checked settings value per subcommand), then one module per subcommand over the
//! library ([`run`], [`call`], [`test`], [`inspect`], [`new`], [`worker`]). Shared by the
//! subcommands: [`output`] (stdout, guest output blocks, summaries), [`signals`] (Ctrl-C and
//! SIGTERM), [`style`] (colour), and [`ExitCode`], the one place exit statuses are numbered.
//! An error that stops a command prints one line and exits 2.

mod args;
mod call;
mod dashboard;
mod inspect;
mod new;
mod output;
mod run;
mod settings;
mod signals;
mod status;
mod style;
mod test;
mod worker;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command, CompletionsArgs};
use settings::{
    CallSettings, DashboardSettings, RunSettings, StatusSettings, TestSettings, WorkerSettings,
};
use signals::Signal;

/// How a command ended. [`ExitCode::code`] is the only place these become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything succeeded; also a run whose stdout was closed (`| head`), and a worker
    /// stopped by a signal.
    Success,
    /// At least one task or test failed (every other one still ran), the input could not be
    /// read to the end, or a worker lost its broker.
    Failed,
    /// The command could not start (a bad flag, no such file, not WebAssembly, no such
    /// function), or could not go on (the joblog cannot be written).
    CouldNotStart,
    /// `mpwasm test` ran no test (the filters, `--ignored` or `--partition` left none) and
    /// `--no-tests` is `fail`, its default.
    NoTests,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted(Signal),
    /// `mpwasm call` of a program: the program's own exit status.
    Program(u8),
}

impl ExitCode {
    /// The process's exit status: 0, 1, 2, 4 (no tests), 128 + the signal, or the program's.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failed => 1,
            ExitCode::CouldNotStart => 2,
            // cargo-nextest's number for it, so CI scripts written for nextest read it alike.
            ExitCode::NoTests => 4,
            // The shell's convention, 128 + the signal: SIGINT (2) is 130, SIGTERM (15) 143.
            ExitCode::Interrupted(signal) => 128 + signal.number() as u8,
            ExitCode::Program(status) => status,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(code.code())
    }
}

/// Parses the command line, checks it, runs the subcommand; returns how it ended.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => RunSettings::new(*args).and_then(run::run),
        Command::Call(args) => CallSettings::new(args).and_then(call::run),
        Command::Test(args) => TestSettings::new(args).and_then(test::run),
        Command::Inspect(args) => inspect::run(args),
        Command::New(args) => new::run(args),
        Command::Worker(args) => WorkerSettings::new(args).and_then(worker::run),
        Command::Status(args) => StatusSettings::new(args).and_then(status::run),
        Command::Dashboard(args) => DashboardSettings::new(args).and_then(dashboard::run),
        Command::Completions(args) => completions(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mpwasm: error: {error:#}");
            ExitCode::CouldNotStart
        }
    }
}

/// `mpwasm completions SHELL`: the script on stdout.
fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "mpwasm", &mut std::io::stdout());
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_numbered_in_one_place() {
        let cases = [
            (ExitCode::Success, 0),
            (ExitCode::Failed, 1),
            (ExitCode::CouldNotStart, 2),
            (ExitCode::NoTests, 4),
            (ExitCode::Interrupted(Signal::Int), 130),
            (ExitCode::Interrupted(Signal::Term), 143),
            (ExitCode::Program(0), 0),
            (ExitCode::Program(7), 7),
        ];
        for (code, number) in cases {
            assert_eq!(code.code(), number, "{code:?}");
        }
    }
}
