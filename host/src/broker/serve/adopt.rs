//! The adopter: a thread with its own connection that takes up the jobs the owner finds. For
//! each it reads the job record, checks its versions, fetches the module once by its hash
//! (and checks the hash), lowers the job's [`JobSpec`] to the operator's [`WorkerCaps`] (or
//! refuses the job), starts the job's local [`Pool`] and a relay thread for its outcomes, and
//! says what it did: in the log, on the broker (the job's notes or refusals), and to the owner
//! ([`ServeEvent::Adopted`]). A slow download or compile so never holds up the jobs already
//! served.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Log, ServeEvent};
use crate::broker::connection::{BrokerUrl, Conn};
use crate::broker::error::BrokerError;
use crate::broker::keys::{self, JOBS, JobKeys};
use crate::broker::record::{JobRecord, RECORD_VERSION, WorkerCaps};
use crate::broker::shared::{Indices, RedisShared};
use crate::files;
use crate::pool::{Pool, PoolBuilder, Submitter};
use crate::vocab::JobSpec;

/// What the adopter needs to know of the worker.
pub(super) struct Adopter {
    /// The broker (a job's shared calls open connections of their own).
    pub(super) url: Arc<BrokerUrl>,
    /// This worker's name on the broker.
    pub(super) name: String,
    /// Worker processes per job's pool.
    pub(super) processes: usize,
    /// What the operator allows any job.
    pub(super) caps: WorkerCaps,
    /// Where fetched modules are kept, by hash.
    pub(super) module_dir: PathBuf,
    /// The program local pools run as workers (default: this executable).
    pub(super) worker_program: Option<PathBuf>,
    /// Where the worker says what it does.
    pub(super) log: Log,
}

/// A job served here.
pub(super) struct Served {
    /// The job's keys.
    pub(super) keys: Arc<JobKeys>,
    /// Its local pool.
    pub(super) pool: Pool,
    /// Where its inputs go (the pool's outcomes go to the relay thread).
    pub(super) submitter: Submitter,
    /// Its inputs' indices in the job, by their local index (for shared calls).
    pub(super) indices: Arc<Indices>,
    /// Inputs this worker ran to an outcome for the job (stored first or not).
    pub(super) answered: u64,
    /// How long an input may sit unrenewed before another worker takes it over.
    pub(super) lease: Duration,
    /// How often an input may be delivered before it ends as `worker-lost`.
    pub(super) max_deliveries: u64,
    /// When to look next for the job's inputs idle past their lease.
    pub(super) next_claim: Instant,
}

/// What became of a job the owner asked to adopt.
pub(super) enum Adoption {
    /// It is served here.
    Served(Box<Served>),
    /// It is refused here (or cannot run here): its inputs are left to other workers.
    Refused,
    /// Its record is gone (its submitter left): it was taken out of the set of jobs.
    Expired,
}

impl Adopter {
    /// Adopts every job id the owner sends until it drops its sender (see the module docs).
    pub(super) fn run(&self, mut con: Conn, ids: &Receiver<String>, events: &Sender<ServeEvent>) {
        for id in ids {
            let event = match self.adopt(&mut con, &id, events) {
                Ok(adoption) => ServeEvent::Adopted { id, adoption },
                Err(e) => ServeEvent::Failed(e),
            };
            let failed = matches!(event, ServeEvent::Failed(_));
            if events.send(event).is_err() || failed {
                return;
            }
        }
    }

    fn adopt(
        &self,
        con: &mut Conn,
        id: &str,
        events: &Sender<ServeEvent>,
    ) -> Result<Adoption, BrokerError> {
        let keys = JobKeys::new(id);
        let record: Option<String> =
            con.run("GET", |c| redis::cmd("GET").arg(&keys.record).query(c))?;
        let Some(record) = record else {
            con.run("SREM", |c| {
                redis::cmd("SREM").arg(JOBS).arg(id).query::<()>(c)
            })?;
            return Ok(Adoption::Expired);
        };
        Ok(match self.start(con, keys.clone(), &record, events) {
            Ok((served, notes)) => {
                if !notes.is_empty() {
                    let note = notes.join("; ");
                    (self.log)(&format!("job {id}: {note}"));
                    self.tell(con, &keys.notes, &note)?;
                }
                Adoption::Served(Box::new(served))
            }
            Err(why) => {
                (self.log)(&format!("job {id}: refused: {why}"));
                self.tell(con, &keys.refused, &why)?;
                Adoption::Refused
            }
        })
    }

    /// Says `what` in the job's hash `key` (its notes, or refusals), under this worker's name.
    fn tell(&self, con: &mut Conn, key: &str, what: &str) -> Result<(), BrokerError> {
        con.run("HSET", |c| {
            redis::cmd("HSET")
                .arg(key)
                .arg(&self.name)
                .arg(what)
                .query::<()>(c)
        })
    }

    /// The module, the capped settings, the local pool and the relay of a job, with notes on
    /// what was lowered; or why the job cannot run here.
    fn start(
        &self,
        con: &mut Conn,
        keys: JobKeys,
        record: &str,
        events: &Sender<ServeEvent>,
    ) -> Result<(Served, Vec<String>), String> {
        let record: JobRecord = serde_json::from_str(record)
            .map_err(|e| format!("its record is not one mpwasm writes: {e}"))?;
        if record.version != RECORD_VERSION {
            return Err(format!(
                "its record has version {}, this worker reads version {RECORD_VERSION} (run the \
                 same mpwasm version on both sides)",
                record.version
            ));
        }
        if record.spec_version != JobSpec::VERSION {
            return Err(format!(
                "its settings have version {}, this worker reads version {} (run the same mpwasm \
                 version on both sides)",
                record.spec_version,
                JobSpec::VERSION
            ));
        }
        if !keys::valid_sha256(&record.module) {
            return Err("its record names no module hash".into());
        }
        let path = self.fetch_module(con, &record)?;
        let mut spec = record.settings.clone();
        let notes = self.caps.apply(&mut spec, self.processes)?;
        let max_deliveries = u64::from(spec.retries_or_default()) + 1;
        let keys = Arc::new(keys);
        let indices = Arc::new(Indices::default());
        let backend = RedisShared::new(
            Arc::clone(&self.url),
            Arc::clone(&keys),
            self.name.clone(),
            Arc::clone(&indices),
        );
        let mut builder = PoolBuilder::from_spec(spec)
            .processes(self.processes)
            .shared_backend(Arc::new(backend));
        if let Some(program) = &self.worker_program {
            builder = builder.worker_program(program);
        }
        let pool = builder
            .build(path.as_path())
            .map_err(|e| format!("its module cannot run here: {e}"))?;
        let (submitter, outcomes) = pool.job(false);
        let job = keys.id.clone();
        let relay = events.clone();
        // The relay: the pool's outcomes, as they complete, to the owner.
        std::thread::spawn(move || {
            for outcome in outcomes {
                let finished = ServeEvent::Finished {
                    job: job.clone(),
                    outcome,
                };
                if relay.send(finished).is_err() {
                    return;
                }
            }
        });
        (self.log)(&format!(
            "job {}: {} from {}",
            keys.id,
            record.safe_module_name(),
            record.submitter,
        ));
        Ok((
            Served {
                keys,
                pool,
                submitter,
                indices,
                answered: 0,
                lease: Duration::from_millis(record.lease_ms.max(100)),
                max_deliveries,
                next_claim: Instant::now(),
            },
            notes,
        ))
    }

    /// The module's file here: fetched once, checked against its hash.
    fn fetch_module(&self, con: &mut Conn, record: &JobRecord) -> Result<PathBuf, String> {
        let dir = self.module_dir.join(&record.module);
        let path = dir.join(record.safe_module_name());
        if let Ok(bytes) = std::fs::read(&path)
            && keys::module_hash(&bytes) == record.module
        {
            return Ok(path);
        }
        let key = keys::module(&record.module);
        let bytes: Option<Vec<u8>> = con
            .run("GET", |c| redis::cmd("GET").arg(&key).query(c))
            .map_err(|e| e.to_string())?;
        let bytes = bytes.ok_or_else(|| format!("its module is not on the broker ({key})"))?;
        if keys::module_hash(&bytes) != record.module {
            return Err(format!(
                "the module stored under {key} does not have that hash: refusing to run it"
            ));
        }
        files::write_atomically(&dir, &path, &bytes)
            .map_err(|e| format!("cannot keep its module in {}: {e}", dir.display()))?;
        Ok(path)
    }
}
