//! Capabilities are granted explicitly and tested both ways: a task sees no host file, no
//! environment variable and no network unless a flag grants it.

use mpwasm_test_artifacts::guests;

use crate::common::{self, mpwasm, temp_dir};

fn call(func: &str, arg: &str, grants: &[&str]) -> String {
    let mut args = vec!["call", guests::MISBEHAVE, "--func", func, arg];
    args.extend_from_slice(grants);
    let run = mpwasm(&args);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.trim().to_string()
}

#[test]
fn host_files_are_out_of_reach_unless_granted() {
    let denied = call("read-file", "/etc/passwd", &[]);
    assert!(denied.starts_with("{\"err\":"), "{denied}");
    let listing = call("list-dir", "/", &[]);
    assert!(listing.starts_with("{\"err\":"), "{listing}");

    let dir = temp_dir("grant");
    std::fs::write(dir.join("fixture.txt"), "fixture data").expect("write");
    let grant = format!("{}::/data:ro", dir.display());
    let read = call("read-file", "/data/fixture.txt", &["--dir", &grant]);
    assert_eq!(read, "{\"ok\":\"fixture data\"}");
    let listed = call("list-dir", "/data", &["--dir", &grant]);
    assert_eq!(listed, "{\"ok\":[\"fixture.txt\"]}");
    // A grant opens only that directory.
    let outside = call("read-file", "/etc/passwd", &["--dir", &grant]);
    assert!(outside.starts_with("{\"err\":"), "{outside}");
    let escape = call("read-file", "/data/../../etc/passwd", &["--dir", &grant]);
    assert!(escape.starts_with("{\"err\":"), "{escape}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_granted_directory_stops_the_run() {
    let run = mpwasm(&[
        "call",
        guests::MISBEHAVE,
        "--func",
        "id",
        "1",
        "--dir",
        "/no/such/dir",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/no/such/dir"), "{run:?}");
}

#[test]
fn environment_variables_only_when_passed() {
    // The test process has PATH; the guest does not see it.
    assert_eq!(call("env-var", "PATH", &[]), "null");
    assert_eq!(
        call("env-var", "GREETING", &["--env", "GREETING=hi"]),
        "\"hi\""
    );
    let path = std::env::var("PATH").expect("PATH is set");
    assert_eq!(
        call("env-var", "PATH", &["--env", "PATH"]),
        serde_json::Value::String(path).to_string()
    );
}

#[test]
fn no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let connect = call("tcp-connect", &format!("\"{addr}\""), &[]);
    assert!(connect.starts_with("{\"err\":"), "{connect}");
}

/// Runs one task with the worker's self-test hook `hook` (`OPEN` a path, or make a `SYSCALL`)
/// set to `value`, which host code in the worker tries after it confined itself; returns
/// what mpwasm printed on stderr.
fn self_test(hook: &str, value: &str, grants: &[&str]) -> String {
    let mut args = vec!["run", guests::SQUARE, "--map", "0..1", "-j", "1"];
    args.extend_from_slice(grants);
    let out = std::process::Command::new(common::mpwasm_bin())
        .args(&args)
        .env(format!("MPWASM_WORKER_SELF_TEST_{hook}"), value)
        .output()
        .expect("mpwasm runs");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn worker_self_test(path: &str, grants: &[&str]) -> String {
    self_test("OPEN", path, grants)
}

fn worker_syscall(name: &str, grants: &[&str]) -> String {
    self_test("SYSCALL", name, grants)
}

#[test]
fn the_worker_process_itself_cannot_open_ungranted_files() {
    // Even code outside the wasm sandbox (a wasmtime escape) is held by Landlock: this runs
    // as whatever user the tests run as, root included.
    let said = worker_self_test("/etc/passwd", &[]);
    assert!(
        said.contains("self-test: open /etc/passwd: refused"),
        "{said}"
    );
    let dir = temp_dir("confined");
    let file = dir.join("granted.txt");
    std::fs::write(&file, "ok").expect("write");
    let grant = format!("{}:ro", dir.display());
    let said = worker_self_test(file.to_str().expect("utf-8"), &["--dir", &grant]);
    assert!(said.contains("granted.txt: allowed"), "{said}");
    let said = worker_self_test("/etc/passwd", &["--dir", &grant]);
    assert!(said.contains("refused"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn the_worker_process_itself_cannot_make_syscalls_outside_its_filter() {
    // Host code in a confined worker (a wasmtime escape) gets EPERM for what Landlock does not
    // cover: UDP sockets, any socket without --allow-http, new processes, new executable memory.
    for name in ["udp", "tcp", "spawn", "exec-memory"] {
        let said = worker_syscall(name, &[]);
        assert!(
            said.contains(&format!(
                "self-test: {name}: failed (Operation not permitted"
            )),
            "{name}: {said}"
        );
    }
    // On this kernel both walls are fully in force: no confinement warning.
    let run = common::mpwasm(&["run", guests::SQUARE, "--map", "0..3", "-j", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("warning"), "{run:?}");
    // Threads are the worker's own business.
    let said = worker_syscall("thread", &[]);
    assert!(said.contains("self-test: thread: allowed"), "{said}");
    // With --allow-http a TCP socket can be made (and here finds nothing listening), so the
    // refusal above was the filter's.
    let said = worker_syscall("tcp", &["--allow-http", "127.0.0.1:9"]);
    assert!(
        said.contains("self-test: tcp: failed (Connection refused"),
        "{said}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn dangerous_syscalls_kill_the_worker_and_the_host_says_why() {
    for name in ["execve", "ptrace", "unshare"] {
        let said = worker_syscall(name, &[]);
        assert!(
            said.contains(&format!("self-test: trying {name}")),
            "{said}"
        );
        assert!(
            !said.contains(&format!("self-test: {name}:")),
            "{name} returned instead of killing the worker: {said}"
        );
        assert!(
            said.contains("killed by signal 31 (SIGSYS: a syscall its seccomp filter forbids)"),
            "{name}: {said}"
        );
    }
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `hello from the host`.
fn local_http_server() -> (String, std::thread::JoinHandle<usize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let server = std::thread::spawn(move || {
        let mut served = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline && served < 1 {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let body = "hello from the host";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    served += 1;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        served
    });
    (format!("127.0.0.1:{port}"), server)
}

#[test]
fn outgoing_http_only_to_allowed_hosts() {
    let (addr, server) = local_http_server();
    let url = format!("\"http://{addr}/page\"");
    let fetch = |grants: &[&str]| {
        let mut args = vec!["call", guests::FETCH, &url];
        args.extend_from_slice(grants);
        let run = mpwasm(&args);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.trim().to_string()
    };
    let denied = fetch(&[]);
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    let other_port = fetch(&["--allow-http", "127.0.0.1:1"]);
    assert!(other_port.contains("HttpRequestDenied"), "{other_port}");
    let other_host = fetch(&["--allow-http", "localhost"]);
    assert!(other_host.contains("HttpRequestDenied"), "{other_host}");
    let allowed = fetch(&["--allow-http", &addr]);
    assert_eq!(allowed, "{\"ok\":\"200 hello from the host\"}");
    assert_eq!(
        server.join().expect("server"),
        1,
        "only the allowed request reached it"
    );
}

#[test]
fn outgoing_http_resolves_host_names_inside_both_walls() {
    // A name, not an address: the worker resolves it (the resolver's files through Landlock,
    // its sockets through the seccomp filter) before it connects.
    let (addr, server) = local_http_server();
    let port = addr.rsplit(':').next().expect("a port");
    let url = format!("\"http://localhost:{port}/page\"");
    let grant = format!("localhost:{port}");
    let run = mpwasm(&["call", guests::FETCH, &url, "--allow-http", &grant]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), "{\"ok\":\"200 hello from the host\"}");
    assert_eq!(server.join().expect("server"), 1);
}
