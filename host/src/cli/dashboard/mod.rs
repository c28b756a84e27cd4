//! `mpwasm dashboard`: a small web server showing a broker's cluster. A poller thread reads
//! the [`Status`] every second (one connection, whatever the number of viewers); the server
//! answers `/` with the page (`page.html`: no external assets, it polls `/api/status`),
//! `/api/status` with the last status as JSON (what `mpwasm status --json` prints), and
//! `/metrics` with it in Prometheus' text format (`metrics.rs`). Every request must carry the
//! token when one is set; the server binds loopback unless told otherwise.

mod metrics;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mpwasm::broker::{Status, StatusReader};

use super::ExitCode;
use super::settings::DashboardSettings;
use super::signals::Watcher;

/// The page, served as it is.
const PAGE: &str = include_str!("page.html");

/// How often the status is read.
const EVERY: Duration = Duration::from_secs(1);

/// What the poller last read.
#[derive(Default)]
struct Snapshot {
    status: Option<Status>,
    /// Why the last read failed, if it did.
    error: Option<String>,
    round_trip: Option<Duration>,
}

struct Shared {
    snapshot: RwLock<Snapshot>,
    token: Option<String>,
}

/// Runs the command until a signal: 0.
///
/// # Errors
/// When the broker cannot be reached, or the address cannot be listened on.
pub fn run(settings: DashboardSettings) -> Result<ExitCode> {
    let mut reader = StatusReader::connect(&settings.url)?;
    let first = reader.read()?;
    let shared = Arc::new(Shared {
        snapshot: RwLock::new(Snapshot {
            status: Some(first),
            error: None,
            round_trip: reader.round_trip().ok(),
        }),
        token: settings.token.clone(),
    });
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || poll(reader, &shared, &stopped));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the web server's runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(settings.listen))
        .with_context(|| format!("--listen {}: cannot listen there", settings.listen))?;
    let shown = match &settings.token {
        Some(token) => format!("http://{}/?token={token}", settings.listen),
        None => format!("http://{}/", settings.listen),
    };
    if settings.loopback() {
        eprintln!(
            "mpwasm dashboard: {shown} (loopback: only this machine can look; --listen \
             ADDRESS:PORT lets others)"
        );
    } else {
        eprintln!("mpwasm dashboard: {shown}");
        if settings.token.is_none() {
            eprintln!(
                "mpwasm dashboard: warning: listening on {} with no token: anyone who reaches \
                 it sees the cluster (module names and counts; never inputs, results or the \
                 broker's password); give --token or $MPWASM_DASHBOARD_TOKEN",
                settings.listen
            );
        }
    }
    let (quit, quitting) = tokio::sync::oneshot::channel::<()>();
    let quit = std::sync::Mutex::new(Some(quit));
    let watcher = Watcher::new("mpwasm dashboard");
    watcher.on_first(move || {
        let _ = stop.try_send(());
        if let Some(quit) = quit.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = quit.send(());
        }
    })?;
    let app = Router::new()
        .route("/", get(page))
        .route("/api/status", get(api_status))
        .route("/metrics", get(metrics))
        .with_state(shared);
    runtime
        .block_on(async {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = quitting.await;
                })
                .await
        })
        .context("the web server stopped")?;
    eprintln!("mpwasm dashboard: stopped");
    Ok(ExitCode::Success)
}

/// Reads the status every [`EVERY`] until told to stop.
fn poll(mut reader: StatusReader, shared: &Shared, stopped: &crossbeam_channel::Receiver<()>) {
    while stopped.recv_timeout(EVERY).is_err() {
        let read = reader.read();
        let round_trip = reader.round_trip().ok();
        let mut snapshot = shared.snapshot.write().unwrap_or_else(|p| p.into_inner());
        snapshot.round_trip = round_trip;
        match read {
            Ok(status) => {
                snapshot.status = Some(status);
                snapshot.error = None;
            }
            Err(e) => snapshot.error = Some(e.to_string()),
        }
    }
}

/// Whether the request carries the token (`?token=` or `Authorization: Bearer`), when one is
/// set; compared in constant time.
fn authorized(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> bool {
    let Some(token) = &shared.token else {
        return true;
    };
    let from_query = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("token="));
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    [from_query, from_header]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

/// `a == b`, taking as long whatever their first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "this dashboard needs its token: add ?token=TOKEN to the address (or send \
         Authorization: Bearer TOKEN)\n",
    )
        .into_response()
}

async fn page(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if !authorized(&shared, &uri, &headers) {
        return refused();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

async fn api_status(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if !authorized(&shared, &uri, &headers) {
        return refused();
    }
    let snapshot = shared.snapshot.read().unwrap_or_else(|p| p.into_inner());
    let json = |code: StatusCode, body: String| {
        (
            code,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    };
    match (&snapshot.error, &snapshot.status) {
        (None, Some(status)) => match serde_json::to_string(status) {
            Ok(body) => json(StatusCode::OK, body),
            Err(e) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": e.to_string() }).to_string(),
            ),
        },
        (error, _) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "error": error.clone().unwrap_or_else(|| "not read yet".into())
            })
            .to_string(),
        ),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if !authorized(&shared, &uri, &headers) {
        return refused();
    }
    let snapshot = shared.snapshot.read().unwrap_or_else(|p| p.into_inner());
    let Some(status) = &snapshot.status else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker was not read yet\n",
        )
            .into_response();
    };
    match metrics::encode(status, snapshot.round_trip) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_needed_when_set_and_compared_whole() {
        let shared = |token: Option<&str>| Shared {
            snapshot: RwLock::new(Snapshot::default()),
            token: token.map(str::to_string),
        };
        let uri = |text: &str| text.parse::<Uri>().expect("a URI");
        let none = HeaderMap::new();
        assert!(authorized(&shared(None), &uri("/"), &none));
        let locked = shared(Some("s3cret"));
        assert!(!authorized(&locked, &uri("/api/status"), &none));
        assert!(authorized(&locked, &uri("/api/status?token=s3cret"), &none));
        assert!(authorized(&locked, &uri("/?x=1&token=s3cret"), &none));
        assert!(!authorized(&locked, &uri("/?token=s3cre"), &none));
        assert!(!authorized(&locked, &uri("/?token=s3cretX"), &none));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("a header"),
        );
        assert!(authorized(&locked, &uri("/metrics"), &bearer));
    }
}
