//! Calls awaited from async code, against real workers: every submitted call is a `Future`
//! and an unordered map is a `Stream`, under tokio (multi-threaded and current-thread),
//! async-executor (what async-std and smol run on) and `futures::executor`; polling never
//! blocks the runtime's thread, and dropping a future cancels its call, freeing the worker.
//! Also: plugin output sent to `tracing`, checked with a subscriber that records every event.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_core::Stream;
use mpwasm::{ErrorKind, Pool, PoolBuilder, TaskOutcome};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common;

/// A pool of `misbehave` whose own function is `id`.
fn misbehave(processes: usize) -> PoolBuilder {
    Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(processes)
        .function("id")
}

fn multi_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// What one async task does: ten calls of `id` submitted at once, so they are in flight
/// together, half through the typed future; then each awaited: (input, JSON, typed answer).
async fn ten_calls(pool: Arc<Pool>, t: u64) -> Vec<(u64, Value, u64)> {
    let calls: Vec<_> = (0..10u64)
        .map(|c| {
            let x = t * 1000 + c;
            (
                x,
                pool.apply_async(vec![json!(x)]),
                pool.apply_typed_async(x),
            )
        })
        .collect();
    let mut got = Vec::new();
    for (x, call, typed) in calls {
        let value = call.await.expect("id answers");
        let typed: u64 = typed.await.expect("id answers, typed");
        got.push((x, value, typed));
    }
    got
}

/// `calls` came back whole, each with its own input both ways.
fn assert_every_call_right(results: &[(u64, Value, u64)], calls: usize) {
    assert_eq!(results.len(), calls, "every call came back");
    for (x, value, typed) in results {
        assert_eq!(value, &json!(x), "the call of {x}");
        assert_eq!(typed, x, "the typed call of {x}");
    }
}

#[test]
fn a_thousand_calls_from_a_hundred_tokio_tasks_all_come_back_right() {
    let pool = Arc::new(misbehave(2).build(guests::MISBEHAVE).expect("pool starts"));
    let runtime = multi_threaded();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..100u64)
            .map(|t| tokio::spawn(ten_calls(Arc::clone(&pool), t)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("the task ran"));
        }
        all
    });
    assert_every_call_right(&results, 1000);
}

#[test]
fn awaiting_a_call_never_blocks_the_runtime_thread() {
    let pool = Arc::new(misbehave(1).build(guests::MISBEHAVE).expect("pool starts"));
    let events = Arc::new(Mutex::new(Vec::new()));
    let runtime = current_thread();
    runtime.block_on(async {
        let sleep = pool.export("sleep-ms").expect("exported");
        let call = sleep.apply_async(vec![json!(400)]);
        let log = Arc::clone(&events);
        // One thread runs both tasks: if awaiting the call blocked it, the second task could
        // only run after the call came back.
        let waiter = tokio::spawn(async move {
            let value = call.await.expect("sleep-ms answers");
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("call {value}"));
        });
        let log = Arc::clone(&events);
        let other = tokio::spawn(async move {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push("other".to_string());
        });
        other.await.expect("ran");
        waiter.await.expect("ran");
    });
    let events = events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(events, ["other", "call 400"]);
}

#[test]
fn an_unordered_map_is_a_stream() {
    let pool = misbehave(2).build(guests::MISBEHAVE).expect("pool starts");
    let ticks = Arc::new(Mutex::new(0u32));
    let runtime = current_thread();
    let got = runtime.block_on(async {
        let sleep = pool.export("sleep-ms").expect("exported");
        let mut stream = sleep.imap_unordered((0..20u64).map(|i| json!(20 + i)));
        // A ticker on the same thread: it runs only if polling the stream never blocks.
        let counter = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                *counter.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            }
        });
        let mut got = BTreeMap::new();
        while let Some((index, result)) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            got.insert(index.0, result.expect("sleep-ms answers"));
        }
        ticker.abort();
        got
    });
    let want: BTreeMap<u64, Value> = (0..20u64).map(|i| (i, json!(20 + i))).collect();
    assert_eq!(got, want, "every input once, with its own result");
    let ticks = *ticks.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        ticks > 0,
        "the ticker never ran while the stream waited ~250 ms of sleeps: polling blocked"
    );
}

#[test]
fn a_dropped_future_cancels_its_call_and_frees_the_worker() {
    let pool = Arc::new(misbehave(1).build(guests::MISBEHAVE).expect("pool starts"));
    let runtime = multi_threaded();
    runtime.block_on(async {
        let mut first = pool.apply_async(vec![json!(1)]);
        let first: TaskOutcome = poll_fn(|cx| first.poll_outcome(cx)).await;
        assert_eq!(first.json(), Ok("1"));
        // spin(1) never returns: the timeout drops the future, which must cancel the call.
        let spin = pool.export("spin").expect("exported");
        let abandoned =
            tokio::time::timeout(Duration::from_millis(300), spin.apply_async(vec![json!(1)]))
                .await;
        assert!(abandoned.is_err(), "spin(1) answered: {abandoned:?}");
        // The only worker is free again: without the cancel this call would wait forever.
        let mut next = pool.apply_async(vec![json!(2)]);
        let next =
            tokio::time::timeout(Duration::from_secs(60), poll_fn(|cx| next.poll_outcome(cx)))
                .await
                .expect("the worker was freed by the dropped future");
        assert_eq!(next.json(), Ok("2"));
        assert_eq!(
            next.worker_pid(),
            first.worker_pid(),
            "the spinning call was stopped at an epoch check, not by killing its worker"
        );
    });
}

#[test]
fn futures_executor_awaits_calls_and_typed_results_are_checked() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    let value: u64 = futures::executor::block_on(pool.apply_typed_async(41u64)).expect("id");
    assert_eq!(value, 41);
    let err = futures::executor::block_on(pool.apply_typed_async::<_, String>(41u64))
        .expect_err("41 is not a String");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    assert!(err.to_string().contains("41"), "{err}");
    // A task error comes through the future as it does through `wait`.
    let divide = pool.export("divide").expect("exported");
    let err = futures::executor::block_on(divide.apply_async(vec![json!(1), json!(0)]))
        .expect_err("division by zero");
    assert_eq!(err.kind(), ErrorKind::Trap, "{err}");
}

/// async-std and smol run their tasks on `async-executor`; the test drives it directly (with
/// async-std itself, which it passed too, its `log` features would make every build of the
/// tests compile wasmtime a second time). Two threads run the executor, as a runtime's pool.
#[test]
fn async_executor_runs_calls_from_its_tasks_and_streams_a_map() {
    let pool = Arc::new(misbehave(2).build(guests::MISBEHAVE).expect("pool starts"));
    let executor = Arc::new(async_executor::Executor::new());
    let (stop, stopped) = stop_signal();
    let helper = {
        let executor = Arc::clone(&executor);
        std::thread::spawn(move || futures::executor::block_on(executor.run(stopped)))
    };
    let results = futures::executor::block_on(executor.run(async {
        let tasks: Vec<_> = (0..20u64)
            .map(|t| executor.spawn(ten_calls(Arc::clone(&pool), t)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await);
        }
        all
    }));
    assert_every_call_right(&results, 200);
    // A map's Stream, awaited on a task of that executor: every input once, with its result.
    let streamed = executor.spawn({
        let pool = Arc::clone(&pool);
        async move {
            let mut stream = pool.imap_unordered((0..50u64).map(|x| json!(x)));
            let mut got = BTreeMap::new();
            while let Some((index, result)) =
                poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
            {
                got.insert(index.0, result.expect("id answers"));
            }
            got
        }
    });
    let got = futures::executor::block_on(executor.run(streamed));
    stop();
    helper.join().expect("the executor's second thread ends");
    let want: BTreeMap<u64, Value> = (0..50u64).map(|x| (x, json!(x))).collect();
    assert_eq!(got, want);
}

/// A future that ends once the returned function is called (to stop an executor's thread).
fn stop_signal() -> (impl FnOnce(), impl std::future::Future<Output = ()>) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    (
        move || {
            let _ = tx.send(());
        },
        async move {
            let _ = rx.await;
        },
    )
}

/// One recorded `tracing` event: its target, level, message and fields.
#[derive(Debug, Clone)]
struct Event {
    target: String,
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

/// A subscriber that records every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Event {
                target: meta.target().to_string(),
                level: *meta.level(),
                fields,
            });
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

impl Recorder {
    fn plugin_events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.target == "mpwasm::plugin")
            .cloned()
            .collect()
    }
}

#[test]
fn plugin_output_goes_to_tracing_line_by_line_with_its_fields() {
    let pool = misbehave(1)
        .output_to_tracing(true)
        .name("noisy")
        .output_limit(640)
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let recorder = Recorder::default();
    let (chatty, shout) = tracing::subscriber::with_default(recorder.clone(), || {
        let chatty = pool
            .export("chatty")
            .expect("exported")
            .apply_async(vec![json!(3)])
            .wait_outcome();
        let shout = pool
            .export("shout")
            .expect("exported")
            .map([json!(1000)])
            .pop();
        (chatty, shout)
    });
    assert_eq!(chatty.json(), Ok("3"));
    assert_eq!(shout.expect("one result").expect("shouted"), json!(1000));
    assert!(
        String::from_utf8_lossy(chatty.output()).contains("line 2"),
        "the outcome keeps its bytes too"
    );
    let events = recorder.plugin_events();
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e.fields["message"].as_str())
        .collect();
    let chatty_lines = ["line 1", "line 2", "line 3", "chatty: printed 3 lines"];
    assert_eq!(&messages[..4], chatty_lines, "{events:#?}");
    let pid = chatty.worker_pid().expect("ran on a worker").to_string();
    for event in &events[..4] {
        assert_eq!(event.level, tracing::Level::INFO);
        assert_eq!(event.fields["plugin"], "noisy");
        assert_eq!(event.fields["export"], "chatty");
        assert_eq!(event.fields["task"], "0");
        assert_eq!(event.fields["worker"], pid);
    }
    // shout(1000) wrote 1000 bytes under a 640-byte limit: ten 64-byte lines, then a warning.
    let shout_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.fields["export"] == "shout")
        .collect();
    assert_eq!(shout_events.len(), 11, "{shout_events:#?}");
    let warning = shout_events.last().expect("a warning");
    assert_eq!(warning.level, tracing::Level::WARN);
    assert!(
        warning.fields["message"].contains("360 more bytes"),
        "{warning:?}"
    );

    // Off by default: the same calls send nothing.
    let quiet = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let chatty = quiet.export("chatty").expect("exported");
        assert_eq!(chatty.apply(vec![json!(3)]).expect("chatty"), json!(3));
    });
    assert!(recorder.plugin_events().is_empty());
}
