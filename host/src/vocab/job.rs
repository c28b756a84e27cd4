//! [`JobSpec`]: what a job asks of every sandbox, wherever it runs. A [`crate::PoolBuilder`]
//! is a `JobSpec` plus the settings that belong to one machine (processes, worker program,
//! compile cache, window); a broker's job record carries the `JobSpec` alone, and each worker
//! lowers it to its operator's caps and builds its local pool from it.
//!
//! Its JSON encoding is a format between machines, pinned by a test below: changing a field
//! (its name, type or meaning) means bumping [`JobSpec::VERSION`], so a worker of another
//! version refuses the job clearly instead of misreading it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::command::CommandSpec;
use super::grants::Grants;

/// How often a task is retried when its worker process dies, unless the job says.
pub const DEFAULT_RETRIES: u32 = 1;

/// What a job asks of every sandbox. `None` means the default (see each field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The most linear memory plus tables one sandbox may grow to, in bytes (default: the
    /// machine's share, see [`crate::limits::default_memory_limit`]).
    pub memory: Option<u64>,
    /// Wall-clock limit per task (default: none).
    pub timeout: Option<Duration>,
    /// Instruction budget per task (default: unmetered).
    pub fuel: Option<u64>,
    /// The most guest output kept per task, in bytes (default 1 MiB).
    pub output: Option<u64>,
    /// The export to call: `name` or `interface#name` (default: the only one, `init` aside).
    pub function: Option<String>,
    /// The export run once in every new instance (default: an export `init()`, if any).
    pub init: Option<String>,
    /// A new instance for every task.
    pub fresh: bool,
    /// A fixed number of tasks per batch (default: adaptive).
    pub chunksize: Option<usize>,
    /// How often a task is retried when its worker dies (default [`DEFAULT_RETRIES`]).
    pub retries: Option<u32>,
    /// Directories, environment variables and HTTP hosts granted to every sandbox.
    pub grants: Grants,
    /// Replace a worker process after it ran this many tasks (default: never).
    pub max_tasks_per_worker: Option<u64>,
    /// How a program's runs are made from inputs (only for a module run as a program).
    pub program: Option<CommandSpec>,
    /// Measure every task's run time (programs are always timed).
    pub timed: bool,
}

impl JobSpec {
    /// The version of this encoding; a worker refuses a job whose spec has another one.
    pub const VERSION: u32 = 1;

    /// How often a task is retried when its worker dies: as asked, or [`DEFAULT_RETRIES`].
    pub fn retries_or_default(&self) -> u32 {
        self.retries.unwrap_or(DEFAULT_RETRIES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{DirGrant, HttpGrant};

    /// The encoding is a format between machines: if this test fails, the change is a new
    /// format, and [`JobSpec::VERSION`] must be bumped together with the text below.
    #[test]
    fn the_encoding_is_pinned() {
        let spec = JobSpec {
            memory: Some(1 << 20),
            timeout: Some(Duration::from_millis(1500)),
            fuel: Some(7),
            output: Some(64),
            function: Some("mpwasm:tasks/types#echo".into()),
            init: Some("init".into()),
            fresh: true,
            chunksize: Some(3),
            retries: Some(2),
            grants: Grants {
                dirs: vec![DirGrant {
                    host: "/data".into(),
                    guest: "/in".into(),
                    read_only: true,
                }],
                env: vec![("K".into(), "v".into())],
                http: vec![HttpGrant {
                    host: "example.com".into(),
                    port: Some(8080),
                }],
            },
            max_tasks_per_worker: Some(100),
            program: Some(CommandSpec {
                program: "prog.wasm".into(),
                args: vec!["{}".into()],
                stdin: false,
            }),
            timed: true,
        };
        let json = serde_json::to_string(&spec).expect("encodes");
        assert_eq!(JobSpec::VERSION, 1);
        assert_eq!(
            json,
            concat!(
                r#"{"memory":1048576,"timeout":{"secs":1,"nanos":500000000},"fuel":7,"#,
                r#""output":64,"function":"mpwasm:tasks/types#echo","init":"init","fresh":true,"#,
                r#""chunksize":3,"retries":2,"grants":{"dirs":[{"host":"/data","guest":"/in","#,
                r#""read_only":true}],"env":[["K","v"]],"http":[{"host":"example.com","port":8080}]},"#,
                r#""max_tasks_per_worker":100,"program":{"program":"prog.wasm","args":["{}"],"#,
                r#""stdin":false},"timed":true}"#
            )
        );
        let back: JobSpec = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, spec);
        let empty = serde_json::to_string(&JobSpec::default()).expect("encodes");
        assert_eq!(
            empty,
            concat!(
                r#"{"memory":null,"timeout":null,"fuel":null,"output":null,"function":null,"#,
                r#""init":null,"fresh":false,"chunksize":null,"retries":null,"#,
                r#""grants":{"dirs":[],"env":[],"http":[]},"max_tasks_per_worker":null,"#,
                r#""program":null,"timed":false}"#
            )
        );
    }
}
