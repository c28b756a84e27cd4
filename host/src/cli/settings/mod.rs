//! Stage two of argument handling: the raw flags of [`crate::cli::args`] become one checked
//! settings value per subcommand ([`RunSettings`], [`CallSettings`], [`TestSettings`],
//! [`WorkerSettings`]) that holds the objects the command runs with (a `PoolBuilder`, an
//! [`InputSpec`], a broker URL). Every message names the flag and the text it refused; nothing
//! downstream parses a flag's text again.

mod call;
mod pool;
mod range;
mod run;
mod test;
#[cfg(test)]
mod tests;
mod watch;
mod worker;

pub use call::CallSettings;
pub use range::IntRange;
pub use run::{BarMode, InputSpec, JobLogSettings, OutputSettings, RunSettings, Target};
pub use test::{TestBinary, TestSettings};
pub use watch::{DashboardSettings, StatusSettings};
pub use worker::WorkerSettings;
