//! Watching a cluster, against real parts: a redis-server, two `mpwasm worker`s and a job of
//! `mpwasm run --broker` whose slow inputs time out now and then. `mpwasm status --json` shows
//! the workers and the job's progress and failures; the dashboard's `/metrics` parses as
//! Prometheus text, and its page, loaded in headless Chromium over WebDriver (chromedriver,
//! started here as redis-server is), shows the job's row with its done/total and the two
//! workers, and is saved as a screenshot; a killed worker disappears after its heartbeat's
//! TTL and the inputs it held show as taken over.
//!
//! Without Chromium and chromedriver (Debian's `chromium` and `chromium-driver`) the browser
//! part says it was skipped; CI installs them and sets `MPWASM_REQUIRE_BROWSER=1`, which makes
//! their absence a failure instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;
use serde_json::Value;

use crate::common::broker::{Redis, Worker, free_port};
use crate::common::{mpwasm, mpwasm_bin, temp_dir};

/// `mpwasm status --json` now.
fn status(url: &str) -> Value {
    let run = mpwasm(&["status", "--broker", url, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// Polls `status --json` until `ready` holds (or 60 s pass): the last status.
fn wait_status(url: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = status(url);
        if ready(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: {now:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The job of `status`, which must be the only one.
fn the_job(status: &Value) -> &Value {
    let jobs = status["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{status:#}");
    &jobs[0]
}

/// A plain HTTP GET of `path` on `port`: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the dashboard answers");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("the request goes");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response comes");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_string());
    (code, body)
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mpwasm dashboard` on a free port of loopback, once it answers.
fn dashboard(url: &str, extra: &[&str]) -> (Killed, u16) {
    let port = free_port();
    let child = Command::new(mpwasm_bin())
        .args(["dashboard", "--broker", url, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mpwasm dashboard starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the dashboard never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), port)
}

/// Where the screenshot goes: `$MPWASM_DASHBOARD_SCREENSHOT` (`cargo xtask screenshot` sets it
/// to the README's picture), else the test's temp dir.
fn screenshot_path(dir: &Path) -> PathBuf {
    std::env::var_os("MPWASM_DASHBOARD_SCREENSHOT")
        .map_or_else(|| dir.join("dashboard.png"), PathBuf::from)
}

#[test]
fn status_metrics_and_the_page_show_the_cluster_and_a_killed_workers_inputs_taken_over() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    let dir = temp_dir("dashboard");
    let mut first = Worker::start(&url, &[]);
    let _second = Worker::start(&url, &[]);
    // 0..400 sleeping 0-450 ms each, a third past the 300 ms timeout: long enough to watch,
    // with failures to show.
    let run = Killed(
        Command::new(mpwasm_bin())
            .args(["run", guests::SLEEPY_SQUARE, "--map", "0..400"])
            .args(["--timeout", "300ms", "--lease", "1s", "--broker", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mpwasm run starts"),
    );

    // The two workers and the job, as it goes.
    let now = wait_status(&url, "two workers and a job with failures", |s| {
        let workers = s["workers"].as_array().map_or(0, Vec::len);
        let job = s["jobs"].as_array().and_then(|j| j.first());
        workers == 2
            && job.is_some_and(|j| {
                j["done"].as_u64() > Some(0) && j["failed"]["timeout"].as_u64() > Some(0)
            })
    });
    let job = the_job(&now);
    assert_eq!(job["module_name"], "sleepy_square.wasm", "{job:#}");
    assert_eq!(job["total"], 400, "{job:#}");
    assert!(
        job["module_hash"].as_str().is_some_and(|h| h.len() == 64),
        "{job:#}"
    );
    let failure = &job["failures"][0];
    assert_eq!(failure["kind"], "timeout", "{job:#}");
    assert!(
        failure["message"]
            .as_str()
            .is_some_and(|m| m.contains("300ms")),
        "{job:#}"
    );
    let id = job["id"].as_str().expect("an id").to_string();
    for worker in now["workers"].as_array().expect("workers") {
        assert!(
            worker["heartbeat_ms_ago"].as_u64() < Some(10_000),
            "{worker:#}"
        );
        assert_eq!(worker["processes"], 1, "{worker:#}");
        assert_eq!(worker["caps"], "defaults", "{worker:#}");
    }
    // Nothing of the broker's password or of the inputs: only what the schema names.
    let text = now.to_string();
    assert!(
        !text.contains("\"v\"") && !text.contains("input\":"),
        "{text}"
    );
    let human = mpwasm(&["status", "--broker", &url]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human.stdout.contains("2 workers live, 1 job running")
            && human.stdout.contains(&id)
            && human.stdout.contains("/400"),
        "{human:?}"
    );

    // The dashboard: its JSON, its metrics, its page in a browser.
    let (_board, port) = dashboard(&url, &[]);
    let (code, body) = get(port, "/api/status");
    assert_eq!(code, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(the_job(&served)["id"], id.as_str());
    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let sample = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| s.value.clone())
    };
    assert_eq!(
        sample("mpwasm_workers_alive", None),
        Some(prometheus_parse::Value::Gauge(2.0)),
        "{body}"
    );
    assert!(
        matches!(sample("mpwasm_inputs_done_total", Some(("job", &id))),
            Some(prometheus_parse::Value::Counter(n)) if n > 0.0),
        "{body}"
    );
    assert!(
        matches!(sample("mpwasm_inputs_failed_total", Some(("kind", "timeout"))),
            Some(prometheus_parse::Value::Counter(n)) if n > 0.0),
        "{body}"
    );
    assert!(
        sample("mpwasm_broker_round_trip_seconds", None).is_some(),
        "{body}"
    );
    match browser::look(port, &id, &screenshot_path(&dir)) {
        Ok(()) => {}
        Err(why) if std::env::var_os("MPWASM_REQUIRE_BROWSER").is_none() => {
            eprintln!("skipped: the dashboard in a browser: {why}");
        }
        Err(why) => panic!("the dashboard in a browser: {why}"),
    }

    // A worker killed: gone once its heartbeat's TTL passes, its inputs taken over.
    let killed = first.pid();
    first.kill();
    let now = wait_status(&url, "the killed worker gone, its inputs taken over", |s| {
        let workers = s["workers"].as_array().map_or(0, Vec::len);
        let job = s["jobs"].as_array().and_then(|j| j.first());
        workers == 1 && job.is_some_and(|j| j["taken_over"].as_u64() > Some(0))
    });
    let suffix = format!("-{killed}");
    assert!(
        !now["workers"][0]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with(&suffix)),
        "{now:#}"
    );
    let takeover = &the_job(&now)["takeovers"][0];
    assert!(
        takeover["from"]
            .as_str()
            .is_some_and(|f| f.ends_with(&suffix)),
        "{now:#}"
    );
    assert!(takeover["delivery"].as_u64() >= Some(2), "{now:#}");
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dashboard_with_a_token_refuses_requests_without_it() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    let (_board, port) = dashboard(&url, &["--token", "s3cret"]);
    for path in ["/", "/api/status", "/metrics"] {
        let (code, body) = get(port, path);
        assert_eq!(code, 401, "{path}: {body}");
        assert!(body.contains("needs its token"), "{body}");
        let (code, _) = get(port, &format!("{path}?token=s3cret"));
        assert_eq!(code, 200, "{path} with the token");
    }
    // An address other machines reach, without a token: a warning that says so.
    let bad = mpwasm(&["dashboard", "--broker", &url, "--listen", "not-an-address"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--listen `not-an-address`"), "{bad:?}");
    let mut open = Command::new(mpwasm_bin())
        .args(["dashboard", "--broker", &url, "--listen"])
        .arg(format!("0.0.0.0:{}", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm dashboard starts");
    let mut stderr = open.stderr.take().expect("piped");
    let mut said = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 1024];
    while !said.contains("no token") && Instant::now() < deadline {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => said.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = open.kill();
    let _ = open.wait();
    assert!(
        said.contains("warning: listening on 0.0.0.0") && said.contains("no token"),
        "{said}"
    );
    // Without a broker to read, it cannot start, and says which.
    let unreachable = mpwasm(&[
        "status",
        "--broker",
        &format!("redis://127.0.0.1:{}", free_port()),
    ]);
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    assert!(unreachable.stderr.contains("127.0.0.1"), "{unreachable:?}");
}

/// The page in headless Chromium, driven over WebDriver by chromedriver.
mod browser {
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use fantoccini::ClientBuilder;
    use hyper_util::client::legacy::connect::HttpConnector;
    use serde_json::json;

    use super::Killed;
    use crate::common::broker::free_port;
    use crate::common::temp_dir;

    /// Loads the dashboard on `port`, waits until job `job`'s row shows its done/total and a
    /// sparkline of a few seconds, and the two workers are listed, reads the DOM, and saves a
    /// screenshot at `png`. `Err` when
    /// no browser could be started (it names what is missing).
    pub fn look(port: u16, job: &str, png: &Path) -> Result<(), String> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .ok_or("no Chromium (/usr/bin/chromium; Debian's package `chromium`)")?;
        let driver_port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("no chromedriver ({e}; Debian's package `chromium-driver`)"))?;
        let _driver = Killed(driver);
        let profile = temp_dir("dashboard-chromium");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,760",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let result = runtime.block_on(async {
            // chromedriver takes a moment to listen.
            let deadline = Instant::now() + Duration::from_secs(20);
            let client = loop {
                let connected = ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&format!("http://127.0.0.1:{driver_port}"))
                    .await;
                match connected {
                    Ok(client) => break client,
                    Err(e) if Instant::now() > deadline => {
                        return Err(format!("cannot start a browser session: {e}"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            let checked = check_page(&client, port, job, png).await;
            let _ = client.close().await;
            checked.map_err(|e| panic!("{e}"))
        });
        let _ = std::fs::remove_dir_all(&profile);
        result
    }

    /// The page's checks (a failure here is the dashboard's, not a missing browser's).
    async fn check_page(
        client: &fantoccini::Client,
        port: u16,
        job: &str,
        png: &Path,
    ) -> Result<(), String> {
        let fail = |e: fantoccini::error::CmdError| e.to_string();
        client
            .goto(&format!("http://127.0.0.1:{port}/"))
            .await
            .map_err(fail)?;
        // Read in one script, so that no element read goes stale as the page redraws.
        const READ: &str = r##"
            const row = document.querySelector("#jobs tbody tr[data-job='" + arguments[0] + "']");
            const count = row ? row.querySelector(".count").textContent : "";
            const workers = document.querySelectorAll("#workers tbody tr[data-worker]").length;
            const line = row ? row.querySelector("svg.spark polyline") : null;
            const points = line ? line.getAttribute("points").trim().split(/\s+/).length : 0;
            return [count, workers, points, document.getElementById("failures").textContent];
        "##;
        let deadline = Instant::now() + Duration::from_secs(30);
        let (count, failures) = loop {
            let read = client.execute(READ, vec![json!(job)]).await.map_err(fail)?;
            let count = read[0].as_str().unwrap_or_default().to_string();
            let workers = read[1].as_u64().unwrap_or(0);
            // The sparkline draws once it has a few seconds of samples.
            let points = read[2].as_u64().unwrap_or(0);
            let done = count
                .split(" / ")
                .next()
                .and_then(|d| d.trim().parse::<u64>().ok());
            if workers == 2
                && done.is_some_and(|d| d > 0)
                && count.ends_with("/ 400")
                && points >= 4
            {
                break (count, read[3].as_str().unwrap_or_default().to_string());
            }
            if Instant::now() > deadline {
                let source = client.source().await.unwrap_or_default();
                return Err(format!(
                    "the page never showed the job's progress, a sparkline and two workers \
                     (row: {count:?}, workers: {workers}, sparkline points: {points}):\n{source}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(failures.contains("timeout"), "{failures}");
        let picture = client.screenshot().await.map_err(fail)?;
        assert!(picture.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(png, &picture).map_err(|e| format!("{}: {e}", png.display()))?;
        eprintln!("the dashboard at {count}: {}", png.display());
        Ok(())
    }
}

#[test]
fn a_worker_with_prefetch_auto_widens_its_window_for_tiny_inputs_and_loses_none() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    let _worker = Worker::start(&url, &["--prefetch", "auto"]);
    wait_status(&url, "the worker registers", |s| {
        s["workers"].as_array().is_some_and(|w| w.len() == 1)
    });
    assert_eq!(
        status(&url)["workers"][0]["prefetch"],
        2,
        "two per process before any input's cost is known"
    );
    let items = 200_000u64;
    let range = format!("0..{items}");
    let job = Command::new(mpwasm_bin())
        .args([
            "run",
            "-q",
            guests::SQUARE,
            "--map",
            &range,
            "--broker",
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the job starts");
    // square costs a few µs in the worker: 2 ms of it is far more than the floor of 2.
    let widened = wait_status(&url, "the window widens", |s| {
        s["workers"][0]["prefetch"].as_u64().is_some_and(|n| n > 2)
    });
    let window = widened["workers"][0]["prefetch"].as_u64().unwrap_or(0);
    assert!(window <= 256, "at most 256 per process: {window}");
    let out = job.wait_with_output().expect("the job ends");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let results: Vec<&str> = text.lines().collect();
    assert_eq!(results.len() as u64, items, "every input answered once");
    for (x, line) in results.iter().enumerate().step_by(9973) {
        assert_eq!(*line, (x as u64 * x as u64).to_string(), "input {x}");
    }
}
