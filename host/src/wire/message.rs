//! The messages host and worker exchange. Tasks travel in batches (chunks), never one message
//! per item; inputs and results travel as JSON text so the host never re-parses them. A batch
//! of consecutive integers travels as where it starts and how long it is ([`TaskRange`]), and
//! a batch of plain results as one block of text ([`ResultBlock`]).

use std::borrow::Cow;

use compact_str::ToCompactString;
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, TaskIndex};
use crate::vocab::{Setup, TaskCall, WireOutcome, WireTask};

/// Host → worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The first message: what to load and how to run it.
    Setup(Box<Setup>),
    /// Run these tasks in order and answer with one [`FromWorker::Done`].
    Run(Batch),
    /// Cancel one task of a batch sent earlier: if it has not started it never runs, if it
    /// runs it is stopped at its next epoch check (or its host call gives up); either way its
    /// outcome is `cancelled`. A task already finished is left alone.
    Cancel {
        /// The batch.
        batch: BatchId,
        /// The task's position in it.
        position: u32,
    },
}

/// A chunk of tasks for one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    /// Identifies the batch in the answer.
    pub id: BatchId,
    /// The tasks, run in this order.
    pub tasks: Tasks,
    /// Whether a task of it may be cancelled: then the worker tracks which task runs (one
    /// memory fence per task); a batch of jobs that cannot cancel skips that.
    pub cancellable: bool,
    /// The module its tasks run, by its number in the worker's setup (0 in a pool of one
    /// module; a plugin's number in a pool of plugins). Last, so it costs one byte.
    pub module: u32,
}

/// A batch's tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Tasks {
    /// Each task.
    List(Vec<WireTask>),
    /// Tasks whose inputs are consecutive integers (a map over a range).
    Range(TaskRange),
}

impl Tasks {
    /// How many tasks.
    pub fn len(&self) -> usize {
        match self {
            Tasks::List(tasks) => tasks.len(),
            Tasks::Range(range) => range.count as usize,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tasks in order; a range's are made as they are asked for, their inputs written
    /// exactly as the host's were.
    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, WireTask>> {
        let (list, range) = match self {
            Tasks::List(tasks) => (tasks.as_slice(), None),
            Tasks::Range(range) => (&[][..], Some(range)),
        };
        list.iter()
            .map(Cow::Borrowed)
            .chain(range.into_iter().flat_map(|r| r.tasks().map(Cow::Owned)))
    }
}

/// `count` tasks calling the pool's own function under the pool's limits, task `index + k`
/// with the input `first + k` (JSON text of an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRange {
    /// The first task's index.
    pub index: TaskIndex,
    /// The first task's input.
    pub first: i64,
    /// How many tasks.
    pub count: u32,
}

impl TaskRange {
    /// The range `tasks` make, if they make one: at least two, each with no call of its own,
    /// indices one apart, and inputs integers one apart written as JSON writes them (so the
    /// worker writes each input back byte for byte).
    pub fn of<'a>(
        mut tasks: impl ExactSizeIterator<Item = (TaskIndex, &'a str, bool)>,
    ) -> Option<TaskRange> {
        let count = u32::try_from(tasks.len()).ok().filter(|&n| n >= 2)?;
        let (index, input, plain) = tasks.next()?;
        let first = canonical_integer(input).filter(|_| plain)?;
        for (k, (i, input, plain)) in (1..).zip(tasks) {
            let fits = plain
                && i.0.checked_sub(index.0) == Some(k)
                && canonical_integer(input)
                    .and_then(|n| n.checked_sub(first))
                    .is_some_and(|d| d == k as i64);
            if !fits {
                return None;
            }
        }
        Some(TaskRange {
            index,
            first,
            count,
        })
    }

    /// The tasks, in order.
    pub fn tasks(self) -> impl Iterator<Item = WireTask> {
        let mut text = Decimal::default();
        (0..u64::from(self.count)).map(move |k| {
            // `of` (and whoever else makes a range) checked that first + count - 1 is an i64.
            let n = self.first.saturating_add(k as i64);
            let input = match u64::try_from(n) {
                // Counting up in the text is a tenth of formatting each number anew.
                Ok(n) => text.set(n).into(),
                Err(_) => n.to_compact_string(),
            };
            WireTask {
                index: TaskIndex(self.index.0.saturating_add(k)),
                input,
                call: None,
            }
        })
    }
}

/// The decimal text of a number that is mostly the last one plus one.
struct Decimal {
    /// The digits, right-aligned: `digits[start..]` (none while `start` is at the end).
    digits: [u8; 20],
    start: usize,
    /// The number they spell.
    value: u64,
}

impl Default for Decimal {
    fn default() -> Decimal {
        Decimal {
            digits: [b'0'; 20],
            start: 20,
            value: 0,
        }
    }
}

impl Decimal {
    /// The text of `n`.
    fn set(&mut self, n: u64) -> &str {
        let known = self.start < self.digits.len();
        if known && self.value.checked_add(1) == Some(n) {
            self.increment();
        } else if !known || self.value != n {
            self.start = self.digits.len();
            let mut rest = n;
            loop {
                self.start -= 1;
                self.digits[self.start] = b'0' + (rest % 10) as u8;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
        }
        self.value = n;
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or("0")
    }

    fn increment(&mut self) {
        for at in (self.start..self.digits.len()).rev() {
            if self.digits[at] == b'9' {
                self.digits[at] = b'0';
            } else {
                self.digits[at] += 1;
                return;
            }
        }
        // All nines: one digit more (u64::MAX has 20 digits, so there is room below it).
        self.start -= 1;
        self.digits[self.start] = b'1';
    }
}

/// `text` as an i64 when it is one written as JSON writes integers (no sign but `-`, no
/// leading zero, no `-0`, no space).
fn canonical_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes[0] == b'0' && (bytes.len() > 1 || text.len() > 1) {
        return None;
    }
    text.parse().ok()
}

/// Borrowed twins of [`ToWorker`], [`Batch`] and [`WireTask`] that encode to the very same
/// bytes, so the host frames a batch straight from its queue without copying each input.
#[derive(Debug, Serialize)]
pub enum ToWorkerRef<'a> {
    /// As [`ToWorker::Setup`].
    Setup(&'a Setup),
    /// As [`ToWorker::Run`].
    Run(BatchRef<'a>),
    /// As [`ToWorker::Cancel`].
    Cancel {
        /// As in [`ToWorker::Cancel`].
        batch: BatchId,
        /// As in [`ToWorker::Cancel`].
        position: u32,
    },
}

/// Borrowed [`Batch`].
#[derive(Debug, Serialize)]
pub struct BatchRef<'a> {
    /// As [`Batch::id`].
    pub id: BatchId,
    /// As [`Batch::tasks`].
    pub tasks: TasksRef<'a>,
    /// As [`Batch::cancellable`].
    pub cancellable: bool,
    /// As [`Batch::module`].
    pub module: u32,
}

/// Borrowed [`Tasks`].
#[derive(Debug, Serialize)]
pub enum TasksRef<'a> {
    /// As [`Tasks::List`].
    List(Vec<WireTaskRef<'a>>),
    /// As [`Tasks::Range`].
    Range(TaskRange),
}

/// Borrowed [`WireTask`].
#[derive(Debug, Serialize)]
pub struct WireTaskRef<'a> {
    /// As [`WireTask::index`].
    pub index: TaskIndex,
    /// As [`WireTask::input`].
    pub input: &'a str,
    /// As [`WireTask::call`].
    pub call: Option<&'a TaskCall>,
}

/// Worker → host.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker loaded the module and waits for batches.
    Ready {
        /// The worker's process id.
        pid: u32,
        /// Whether the OS confinement (Landlock) is fully in force.
        confined: bool,
        /// What the OS confinement enforces.
        confinement: String,
    },
    /// The worker could not load the module; it exits after this.
    SetupFailed {
        /// What went wrong.
        message: String,
    },
    /// A batch finished: one outcome per task, in the batch's order.
    Done(BatchDone),
    /// A task has run past its timeout plus a grace period and epoch interruption did not stop
    /// it (it is blocked in a host call): the host must kill this worker. `done` holds the
    /// outcomes of the batch's tasks that finished before it.
    Stuck {
        /// The batch holding the stuck task.
        id: BatchId,
        /// Outcomes of the tasks before it, in order.
        done: Vec<WireOutcome>,
        /// The stuck task.
        index: TaskIndex,
    },
    /// A task the host cancelled had not started, and will be skipped: the host may answer
    /// it at once (its outcome in the batch's answer is then dropped).
    NotStarted {
        /// The batch.
        batch: BatchId,
        /// The task's position in it.
        position: u32,
    },
}

/// The answer to a [`Batch`].
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchDone {
    /// The batch this answers.
    pub id: BatchId,
    /// One answer per task, in the batch's order.
    pub answers: Answers,
    /// Wall time the worker spent on the batch, in nanoseconds (feeds chunk sizing).
    pub busy_nanos: u64,
}

/// The answers to a batch's tasks, in the batch's order.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answers {
    /// Every task returned a result, wrote nothing and was not timed (a map of a function
    /// over many small inputs): their JSON texts in one block, so neither side handles an
    /// outcome record per task.
    Results(ResultBlock),
    /// One outcome per task.
    Outcomes(Vec<WireOutcome>),
}

impl Answers {
    /// The answers to `outcomes`: a [`ResultBlock`] when each is a plain result, else the
    /// outcomes themselves.
    pub fn from_outcomes(outcomes: Vec<WireOutcome>) -> Answers {
        let plain = |o: &WireOutcome| o.result.is_ok() && o.output.is_empty() && o.nanos == 0;
        // A single call's answer (`apply`) stays a record: a block costs two allocations
        // more on each side, which a round trip of one task would pay for nothing.
        if outcomes.len() < 2 || !outcomes.iter().all(plain) {
            return Answers::Outcomes(outcomes);
        }
        let mut block = ResultBlock::with_capacity(outcomes.len());
        for outcome in &outcomes {
            if let Ok(json) = &outcome.result
                && !block.push(json)
            {
                return Answers::Outcomes(outcomes);
            }
        }
        Answers::Results(block)
    }

    /// Whether they can be taken as they are: a block must add up
    /// ([`ResultBlock::adds_up`]).
    pub fn add_up(&self) -> bool {
        match self {
            Answers::Results(block) => block.adds_up(),
            Answers::Outcomes(_) => true,
        }
    }

    /// How many tasks they answer.
    pub fn len(&self) -> usize {
        match self {
            Answers::Results(block) => block.ends.len(),
            Answers::Outcomes(outcomes) => outcomes.len(),
        }
    }

    /// Whether they answer no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Results as JSON texts one after another, and where each ends.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ResultBlock {
    /// The texts.
    text: String,
    /// The end of each text in `text`, in bytes.
    ends: Vec<u32>,
}

impl ResultBlock {
    /// An empty block with room for `n` results.
    pub fn with_capacity(n: usize) -> ResultBlock {
        ResultBlock {
            text: String::with_capacity(n * 8),
            ends: Vec::with_capacity(n),
        }
    }

    /// Appends `json`; false (nothing appended) when the block would pass 4 GiB.
    pub fn push(&mut self, json: &str) -> bool {
        match u32::try_from(self.text.len() + json.len()) {
            Ok(end) => {
                self.text.push_str(json);
                self.ends.push(end);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether every result lies within the text, each after the one before, on character
    /// boundaries.
    pub fn adds_up(&self) -> bool {
        self.results().all(|r| r.is_some())
    }

    /// The results in order; `None` where the block does not add up (an end before the one
    /// before it, past the text, or inside a character): a worker's garbage.
    pub fn results(&self) -> impl Iterator<Item = Option<&str>> {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let end = end as usize;
            let slice = self.text.get(start..end);
            start = end;
            slice
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::vocab::{CallLimits, CapturedOutput, WireFailure};

    fn plain(json: &str) -> WireOutcome {
        WireOutcome {
            index: TaskIndex(0),
            result: Ok(json.into()),
            output: CapturedOutput::default(),
            nanos: 0,
        }
    }

    #[test]
    fn plain_results_travel_as_one_block_and_come_back_whole() {
        let answers = Answers::from_outcomes(vec![plain("1"), plain("\"λ\""), plain("[]")]);
        let Answers::Results(block) = &answers else {
            panic!("plain results make a block: {answers:?}");
        };
        let back: Vec<_> = block.results().collect();
        assert_eq!(back, [Some("1"), Some("\"λ\""), Some("[]")]);
        assert_eq!(answers.len(), 3);
        assert!(block.adds_up());
    }

    #[test]
    fn a_failure_or_output_keeps_the_outcomes() {
        let mut with_output = plain("1");
        with_output.output.bytes = b"hi\n".to_vec();
        let mut failed = plain("1");
        failed.result = Err(Box::new(WireFailure::new(ErrorKind::Trap, "boom")));
        let mut timed = plain("1");
        timed.nanos = 5;
        for odd in [with_output, failed, timed] {
            let answers = Answers::from_outcomes(vec![plain("2"), odd]);
            assert!(matches!(answers, Answers::Outcomes(ref o) if o.len() == 2));
        }
    }

    #[test]
    fn a_block_that_does_not_add_up_says_so_instead_of_panicking() {
        let block = ResultBlock {
            text: "12λ".into(),
            ends: vec![1, 3, 2, 9],
        };
        // 3 is inside 'λ'; 2 goes back; 9 is past the text.
        assert_eq!(
            block.results().collect::<Vec<_>>(),
            [Some("1"), None, None, None]
        );
        assert!(!block.adds_up());
    }

    #[test]
    fn borrowed_batches_encode_like_owned_ones() {
        let owned = ToWorker::Run(Batch {
            id: BatchId(7),
            cancellable: true,
            module: 3,
            tasks: Tasks::List(vec![
                WireTask {
                    index: TaskIndex(3),
                    input: "[1, 2]".into(),
                    call: None,
                },
                WireTask {
                    index: TaskIndex(300),
                    input: "\"λ\"".into(),
                    call: Some(Box::new(TaskCall {
                        export: 2,
                        limits: Some(CallLimits {
                            timeout: Some(std::time::Duration::from_millis(1500)),
                            fuel: None,
                        }),
                    })),
                },
            ]),
        });
        let ToWorker::Run(Batch {
            tasks: Tasks::List(list),
            ..
        }) = &owned
        else {
            unreachable!("built above")
        };
        let borrowed = ToWorkerRef::Run(BatchRef {
            id: BatchId(7),
            cancellable: true,
            module: 3,
            tasks: TasksRef::List(
                list.iter()
                    .map(|t| WireTaskRef {
                        index: t.index,
                        input: &t.input,
                        call: t.call.as_deref(),
                    })
                    .collect(),
            ),
        });
        assert_eq!(
            postcard::to_stdvec(&owned).expect("encodes"),
            postcard::to_stdvec(&borrowed).expect("encodes")
        );
        let range = TaskRange {
            index: TaskIndex(5),
            first: -1,
            count: 3,
        };
        let owned = ToWorker::Run(Batch {
            id: BatchId(1),
            cancellable: false,
            module: 0,
            tasks: Tasks::Range(range),
        });
        let borrowed = ToWorkerRef::Run(BatchRef {
            id: BatchId(1),
            cancellable: false,
            module: 0,
            tasks: TasksRef::Range(range),
        });
        assert_eq!(
            postcard::to_stdvec(&owned).expect("encodes"),
            postcard::to_stdvec(&borrowed).expect("encodes")
        );
    }

    fn range_of(tasks: &[(u64, &str, bool)]) -> Option<TaskRange> {
        TaskRange::of(
            tasks
                .iter()
                .map(|&(i, input, plain)| (TaskIndex(i), input, plain)),
        )
    }

    #[test]
    fn a_ranges_inputs_are_each_integers_json_text() {
        for (first, count) in [
            (-12, 30),
            (0, 1),
            (95, 10),
            (999_999, 3),
            (i64::MAX - 2, 3),
            (i64::MIN, 2),
        ] {
            let range = TaskRange {
                index: TaskIndex(4),
                first,
                count,
            };
            let got: Vec<(u64, String)> = range
                .tasks()
                .map(|t| (t.index.0, t.input.to_string()))
                .collect();
            let want: Vec<(u64, String)> = (0..count)
                .map(|k| (4 + u64::from(k), (first + i64::from(k)).to_string()))
                .collect();
            assert_eq!(got, want, "from {first}");
        }
    }

    #[test]
    fn consecutive_integers_travel_as_a_range_and_come_back_byte_for_byte() {
        let inputs = ["-2", "-1", "0", "1", "2"];
        let tasks: Vec<_> = (10..).zip(inputs).map(|(i, s)| (i, s, true)).collect();
        let range = range_of(&tasks).expect("a range");
        assert_eq!(
            range,
            TaskRange {
                index: TaskIndex(10),
                first: -2,
                count: 5
            }
        );
        let back: Vec<(u64, String)> = range
            .tasks()
            .map(|t| (t.index.0, t.input.to_string()))
            .collect();
        let expected: Vec<(u64, String)> = (10..).zip(inputs.map(String::from)).collect();
        assert_eq!(back, expected);
        let big = [
            (0, "9223372036854775806", true),
            (1, "9223372036854775807", true),
        ];
        assert_eq!(range_of(&big).map(|r| r.first), Some(i64::MAX - 1));
    }

    #[test]
    fn anything_else_travels_task_by_task() {
        for odd in [
            // not one apart, in input or in index
            &[(0, "1", true), (1, "3", true)][..],
            &[(0, "1", true), (2, "2", true)],
            // written otherwise than JSON writes it: the worker would change the input
            &[(0, "01", true), (1, "2", true)],
            &[(0, "-0", true), (1, "1", true)],
            &[(0, " 1", true), (1, "2", true)],
            &[(0, "1.0", true), (1, "2", true)],
            &[(0, "+1", true), (1, "2", true)],
            // a call of its own, a single task, past i64
            &[(0, "1", true), (1, "2", false)],
            &[(0, "1", true)],
            &[
                (0, "9223372036854775807", true),
                (1, "9223372036854775808", true),
            ],
        ] {
            assert_eq!(range_of(odd), None, "{odd:?}");
        }
    }
}
