//! The job record (what a submitter asks of every worker: the module's hash, the job's
//! [`JobSpec`], the lease) and [`WorkerCaps`] (what a worker's operator allows any job).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::{default_memory_limit, format_duration, format_size};
use crate::vocab::JobSpec;

/// The most guest output per task a worker keeps for a job (its host memory is the worker
/// machine's): 16 MiB.
pub const MAX_OUTPUT: u64 = 16 << 20;

/// The record's format; a worker refuses records of another version. (2: the settings became
/// an explicit [`JobSpec`] with a version of its own.)
pub const RECORD_VERSION: u32 = 2;

/// A job as stored in `mpwasm:job:<id>` (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The module's SHA-256 (hex): its bytes are at [`super::keys::module`].
    pub module: String,
    /// The module's file name (a program's `argv[0]`).
    pub module_name: String,
    /// [`JobSpec::VERSION`] of `settings`.
    pub spec_version: u32,
    /// What every sandbox runs with (before a worker's caps).
    pub settings: JobSpec,
    /// How long an input may sit with a worker that does not renew it before another worker
    /// takes it over, in milliseconds.
    pub lease_ms: u64,
    /// Who submitted it (`host-pid`), for workers' logs.
    pub submitter: String,
}

impl JobRecord {
    /// The module's file name, made safe to use as one: no directories, never empty.
    pub fn safe_module_name(&self) -> String {
        let name = std::path::Path::new(&self.module_name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.is_empty() || name.starts_with('.') {
            "task.wasm".into()
        } else {
            name
        }
    }
}

/// What a worker's operator allows any job, whatever the job asks: a job's larger limits are
/// lowered to these, and a job that asks for a capability the operator has not allowed is
/// refused (the worker leaves its inputs to other workers).
#[derive(Debug, Clone, Default)]
pub struct WorkerCaps {
    /// The most memory a sandbox may have (`None`: the machine's default share, as for a
    /// local pool of the worker's size).
    pub max_memory: Option<u64>,
    /// The longest a task may run (`None`: as long as the job allows).
    pub max_timeout: Option<Duration>,
    /// Host directories (and everything under them) jobs may be granted with `--dir`; none:
    /// no directory at all.
    pub allow_dirs: Vec<PathBuf>,
    /// Whether jobs may send HTTP requests (`--allow-http`).
    pub allow_http: bool,
}

impl WorkerCaps {
    /// What they allow, in a line for `mpwasm status` (`memory ≤ 512 MiB, dirs /srv`, or
    /// `defaults`).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(bytes) = self.max_memory {
            parts.push(format!("memory ≤ {}", crate::limits::format_size(bytes)));
        }
        if let Some(limit) = self.max_timeout {
            parts.push(format!(
                "timeout ≤ {}",
                crate::limits::format_duration(limit)
            ));
        }
        if !self.allow_dirs.is_empty() {
            let dirs: Vec<String> = self
                .allow_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            parts.push(format!("dirs {}", dirs.join(" ")));
        }
        if self.allow_http {
            parts.push("http".into());
        }
        if parts.is_empty() {
            "defaults".into()
        } else {
            parts.join(", ")
        }
    }

    /// Lowers `settings` to these caps for a worker of `processes` processes. Returns notes
    /// on what was lowered, or why the job is refused.
    ///
    /// # Errors
    /// The reason, naming the grant and the flag that would allow it.
    pub fn apply(&self, settings: &mut JobSpec, processes: usize) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        let JobSpec {
            memory,
            timeout,
            output,
            grants,
            ..
        } = settings;
        if let Some(output) = output.as_mut()
            && *output > MAX_OUTPUT
        {
            notes.push(format!(
                "--output-limit {} lowered to {} (the most a worker keeps per task)",
                format_size(*output),
                format_size(MAX_OUTPUT)
            ));
            *output = MAX_OUTPUT;
        }
        let max_memory = self
            .max_memory
            .unwrap_or_else(|| default_memory_limit(processes));
        match *memory {
            Some(asked) if asked > max_memory => {
                notes.push(format!(
                    "--memory {} lowered to {} (the worker's --max-memory)",
                    format_size(asked),
                    format_size(max_memory)
                ));
                *memory = Some(max_memory);
            }
            Some(_) => {}
            None => *memory = Some(max_memory),
        }
        if let Some(max) = self.max_timeout {
            match *timeout {
                Some(asked) if asked > max => {
                    notes.push(format!(
                        "--timeout {} lowered to {} (the worker's --max-timeout)",
                        format_duration(asked),
                        format_duration(max)
                    ));
                    *timeout = Some(max);
                }
                Some(_) => {}
                None => {
                    notes.push(format!(
                        "tasks stop after {} (the worker's --max-timeout)",
                        format_duration(max)
                    ));
                    *timeout = Some(max);
                }
            }
        }
        if !grants.http.is_empty() && !self.allow_http {
            let hosts: Vec<String> = grants
                .http
                .iter()
                .map(|g| match g.port {
                    Some(p) => format!("{}:{p}", g.host),
                    None => g.host.clone(),
                })
                .collect();
            return Err(format!(
                "the job sends HTTP requests (--allow-http {}), which this worker's operator has \
                 not allowed (mpwasm worker --allow-http)",
                hosts.join(",")
            ));
        }
        let allowed: Vec<PathBuf> = self
            .allow_dirs
            .iter()
            .filter_map(|d| d.canonicalize().ok())
            .collect();
        for dir in &mut grants.dirs {
            let Ok(real) = dir.host.canonicalize() else {
                return Err(format!(
                    "the job grants the directory {} (--dir), which does not exist on this worker",
                    dir.host.display()
                ));
            };
            if !allowed.iter().any(|a| real.starts_with(a)) {
                return Err(format!(
                    "the job grants the directory {} (--dir), which this worker's operator has \
                     not allowed (mpwasm worker --allow-dir DIR)",
                    dir.host.display()
                ));
            }
            dir.host = real;
        }
        Ok(notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolBuilder;
    use crate::limits::Limits;
    use crate::vocab::{DirGrant, HttpGrant};

    /// The limits a worker's pool would run `spec` with.
    fn limits(spec: &JobSpec) -> Limits {
        PoolBuilder::from_spec(spec.clone()).limits()
    }

    #[test]
    fn caps_lower_limits_and_refuse_grants() {
        let caps = WorkerCaps {
            max_memory: Some(64 << 20),
            max_timeout: Some(Duration::from_secs(1)),
            allow_dirs: vec![std::env::temp_dir()],
            allow_http: false,
        };
        let spec = |builder: PoolBuilder| builder.spec().clone();
        let mut asked = spec(
            PoolBuilder::new()
                .memory_limit(1 << 30)
                .timeout(Duration::from_secs(60)),
        );
        let notes = caps.apply(&mut asked, 2).expect("accepted");
        assert_eq!(limits(&asked).memory, 64 << 20);
        assert_eq!(limits(&asked).timeout, Some(Duration::from_secs(1)));
        assert_eq!(notes.len(), 2, "{notes:?}");

        let mut loud = spec(PoolBuilder::new().output_limit(1 << 40));
        caps.apply(&mut loud, 2).expect("accepted");
        assert_eq!(limits(&loud).output, MAX_OUTPUT);

        let mut small = spec(PoolBuilder::new().memory_limit(1 << 20));
        assert!(caps.apply(&mut small, 2).expect("accepted").len() == 1);
        assert_eq!(limits(&small).memory, 1 << 20);

        let granted =
            |dir: &str| spec(PoolBuilder::new().dir(DirGrant::parse(dir).expect("parses")));
        let tmp = std::env::temp_dir();
        assert!(
            caps.apply(&mut granted(&tmp.display().to_string()), 2)
                .is_ok()
        );
        let refused = caps.apply(&mut granted("/"), 2).expect_err("refused");
        assert!(refused.contains("--allow-dir"), "{refused}");
        let mut http =
            spec(PoolBuilder::new().allow_http(HttpGrant::parse("example.com").expect("ok")));
        assert!(
            caps.apply(&mut http, 2)
                .expect_err("refused")
                .contains("--allow-http")
        );
    }

    fn record(name: &str) -> JobRecord {
        JobRecord {
            version: RECORD_VERSION,
            module: String::new(),
            module_name: name.into(),
            spec_version: JobSpec::VERSION,
            settings: JobSpec::default(),
            lease_ms: 1,
            submitter: String::new(),
        }
    }

    #[test]
    fn module_names_stay_file_names() {
        assert_eq!(record("../../etc/passwd").safe_module_name(), "passwd");
        assert_eq!(record("..").safe_module_name(), "task.wasm");
        assert_eq!(record("").safe_module_name(), "task.wasm");
        assert_eq!(record("square.wasm").safe_module_name(), "square.wasm");
    }

    /// The record is a format between machines (its settings are pinned in `vocab::job`): if
    /// this fails, bump [`RECORD_VERSION`] with the text.
    #[test]
    fn the_record_encoding_is_pinned() {
        let mut job = record("square.wasm");
        job.module = "ab".repeat(32);
        job.lease_ms = 10_000;
        job.submitter = "host-1".into();
        let json = serde_json::to_string(&job).expect("encodes");
        let settings = serde_json::to_string(&JobSpec::default()).expect("encodes");
        assert_eq!(
            json,
            format!(
                r#"{{"version":2,"module":"{}","module_name":"square.wasm","spec_version":1,"settings":{settings},"lease_ms":10000,"submitter":"host-1"}}"#,
                "ab".repeat(32)
            )
        );
        let back: JobRecord = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back.settings, job.settings);
    }
}
