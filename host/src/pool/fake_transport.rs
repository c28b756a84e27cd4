//! A [`Transport`] for the dispatcher's unit tests: each "worker process" is a thread of this
//! process that reads the frames the dispatcher sends, as a real worker would, and answers as
//! its [`Act`] says: normally, or by dying mid-batch, reporting a stuck task, writing garbage,
//! or never starting. A killed fake reports its exit as the real link's reaper does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::events::{WorkerEvent, WorkerReport};
use super::inbox::Reports;
use super::transport::{Transport, WorkerLink};
use crate::error::{Error, ErrorKind};
use crate::ids::{TaskIndex, WorkerId};
use crate::sync::lock;
use crate::vocab::{CapturedOutput, Setup, WireFailure, WireOutcome};
use crate::wire::frame::read_frame;
use crate::wire::message::{Answers, BatchDone, FromWorker, ToWorker};

/// How one fake worker process behaves. A fake's answer to a task is its input, or, for a
/// module given a name, `NAME#EXPORT:INPUT` (so a test sees which module and export ran it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// Ready, then every batch answered: each task's result is its input.
    Normal,
    /// Answers `n` batches, then dies when the next one arrives (it ran, but said nothing).
    DieOnBatch(usize),
    /// On its first batch, finishes the first task and reports the second stuck.
    StuckOnFirstBatch,
    /// On its first batch, writes garbage on its pipe.
    GarbleOnFirstBatch,
    /// Says its setup failed and exits.
    NeverStarts,
    /// Is killed (SIGKILL, from outside) while it loads the module, before it is ready.
    KilledWhileLoading,
}

/// Who decides how the worker of a slot and generation behaves.
pub(crate) type Script = Arc<dyn Fn(WorkerId, u64) -> Act + Send + Sync>;

/// What the fakes did, for the tests' assertions.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Processes started, by slot, with their generation.
    pub(crate) started: Vec<(WorkerId, u64)>,
    /// Tasks each process answered, by (slot, generation).
    pub(crate) answered: HashMap<(WorkerId, u64), usize>,
    /// The batches each process got, by (slot, generation): the module of each, in order.
    pub(crate) batches: HashMap<(WorkerId, u64), Vec<u32>>,
    /// Batches sent to a process for a module its setup does not have.
    pub(crate) strays: usize,
}

/// The fake transport.
pub(crate) struct FakeTransport {
    script: Script,
    record: Arc<Mutex<Record>>,
}

impl FakeTransport {
    /// A transport whose workers act as `script` says; what they did goes to the returned
    /// record.
    pub(crate) fn new(script: Script) -> (FakeTransport, Arc<Mutex<Record>>) {
        let record = Arc::new(Mutex::new(Record::default()));
        let transport = FakeTransport {
            script,
            record: Arc::clone(&record),
        };
        (transport, record)
    }
}

enum ToFake {
    Frame(Vec<u8>),
    Kill,
}

struct FakeLink(Sender<ToFake>);

impl WorkerLink for FakeLink {
    fn send(&mut self, frame: Vec<u8>) {
        let _ = self.0.send(ToFake::Frame(frame));
    }

    fn kill(&mut self) {
        let _ = self.0.send(ToFake::Kill);
    }
}

impl Transport for FakeTransport {
    fn start(
        &mut self,
        slot: WorkerId,
        generation: u64,
        setup: &Setup,
        events: Reports,
    ) -> Result<Box<dyn WorkerLink>, Error> {
        let act = (self.script)(slot, generation);
        let names: Vec<Option<String>> = setup
            .modules
            .iter()
            .map(|m| m.as_ref().map(|m| m.name.clone()))
            .collect();
        lock(&self.record).started.push((slot, generation));
        let (tx, rx) = unbounded();
        let record = Arc::clone(&self.record);
        std::thread::spawn(move || {
            let report = |event| {
                events.send(WorkerReport {
                    slot,
                    generation,
                    event,
                });
            };
            let pid = 1000 + slot.0 * 100 + generation as u32;
            let batch = |module: u32| {
                let mut record = lock(&record);
                record
                    .batches
                    .entry((slot, generation))
                    .or_default()
                    .push(module);
                match names.get(module as usize) {
                    Some(Some(name)) => Some(name.clone()),
                    _ => {
                        record.strays += 1;
                        None
                    }
                }
            };
            run(act, pid, &rx, &report, batch, |tasks| {
                *lock(&record)
                    .answered
                    .entry((slot, generation))
                    .or_default() += tasks;
            });
        });
        Ok(Box::new(FakeLink(tx)))
    }
}

/// One fake process's life: it ends with its exit reported, unless its link is dropped first.
fn run(
    act: Act,
    pid: u32,
    rx: &Receiver<ToFake>,
    report: &dyn Fn(WorkerEvent),
    module: impl Fn(u32) -> Option<String>,
    answered: impl Fn(usize),
) {
    let exited = |status: &str| WorkerEvent::Exited {
        status: status.into(),
        killed: status.contains("SIGKILL"),
        stderr: String::new(),
    };
    if act == Act::NeverStarts {
        report(WorkerEvent::Message(FromWorker::SetupFailed {
            message: "cannot load the precompiled module: it is not one".into(),
        }));
        report(exited("exit status 3"));
        return;
    }
    if act == Act::KilledWhileLoading {
        report(exited("killed by signal 9 (SIGKILL)"));
        return;
    }
    // A real worker loads the module its setup names, then says it is ready.
    report(WorkerEvent::Message(FromWorker::Ready {
        pid,
        confined: true,
        confinement: String::new(),
    }));
    let mut batches = 0;
    let mut buf = Vec::new();
    while let Ok(message) = rx.recv() {
        let frame = match message {
            ToFake::Frame(frame) => frame,
            ToFake::Kill => {
                report(exited("killed by signal 9 (SIGKILL)"));
                return;
            }
        };
        let batch = match read_frame::<_, ToWorker>(&mut &frame[..], &mut buf) {
            Ok(Some(ToWorker::Run(batch))) => batch,
            // A fake's tasks finish at once: nothing is left to cancel.
            Ok(Some(ToWorker::Cancel { .. })) => continue,
            // The transport sends the setup, never the dispatcher.
            Ok(Some(ToWorker::Setup(_)) | None) | Err(_) => {
                report(exited("exit status 2"));
                return;
            }
        };
        let name = module(batch.module);
        let outcomes: Vec<WireOutcome> = batch
            .tasks
            .iter()
            .map(|t| WireOutcome {
                index: t.index,
                result: match &name {
                    Some(name) if !name.is_empty() => {
                        Ok(format!("{name}#{}:{}", t.export(), t.input).into())
                    }
                    Some(_) => Ok(t.input.clone()),
                    None => Err(Box::new(WireFailure::new(
                        ErrorKind::Trap,
                        format!("no module number {}", batch.module),
                    ))),
                },
                output: CapturedOutput::default(),
                nanos: 0,
            })
            .collect();
        match act {
            Act::DieOnBatch(n) if batches == n => {
                report(exited("killed by signal 11 (SIGSEGV)"));
                return;
            }
            Act::StuckOnFirstBatch if batches == 0 && batch.tasks.len() >= 2 => {
                answered(1);
                report(WorkerEvent::Message(FromWorker::Stuck {
                    id: batch.id,
                    done: outcomes.into_iter().take(1).collect(),
                    index: batch.tasks.iter().nth(1).map_or(TaskIndex(0), |t| t.index),
                }));
            }
            Act::GarbleOnFirstBatch if batches == 0 => {
                report(WorkerEvent::Garbled(
                    "malformed message: Hit the end of buffer".into(),
                ));
            }
            _ => {
                answered(outcomes.len());
                report(WorkerEvent::Message(FromWorker::Done(BatchDone {
                    id: batch.id,
                    answers: Answers::from_outcomes(outcomes),
                    busy_nanos: 1_000,
                })));
            }
        }
        batches += 1;
    }
}
