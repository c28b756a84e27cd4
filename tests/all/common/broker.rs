//! The broker tests' harness: a redis-server of their own (the starter xtask and the
//! benchmarks use too) with `redis-cli` to look inside it, and `mpwasm worker` processes whose
//! stderr is kept in a log file.

#[path = "../../../xtask/src/redis_server.rs"]
mod redis_server;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_server::RedisServer;

use super::mpwasm_bin;

/// A redis-server of our own, and `redis-cli` to look inside it.
pub struct Redis {
    pub server: RedisServer,
    pub port: u16,
    /// The arguments it was started with, for [`Redis::restart`].
    extra: Vec<String>,
}

/// A port on 127.0.0.1 that nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Redis {
    /// Starts one with redis-server's `extra` arguments.
    pub fn start(extra: &[&str]) -> Redis {
        let server = RedisServer::start(extra)
            .expect("redis-server runs (install it: apt-get install redis-server; .ci/run does)");
        Redis {
            port: server.port,
            server,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Kills it (SIGKILL, as a crash) and starts it again on the same port with the same
    /// arguments: with `--appendonly yes` it comes back with its data, without, empty.
    pub fn restart(&mut self) {
        self.server.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match RedisServer::start_on(self.port, &extra) {
                Ok(Some(server)) => {
                    self.server = server;
                    return;
                }
                // The old socket may linger a moment.
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Ok(_) => panic!("redis-server does not restart on port {}", self.port),
                Err(e) => panic!("redis-server does not restart on port {}: {e}", self.port),
            }
        }
    }

    /// Its process id, as it reports it.
    fn pid(&self) -> String {
        self.cli(&["INFO", "server"])
            .iter()
            .find_map(|l| l.strip_prefix("process_id:"))
            .map(|p| p.trim().to_string())
            .expect("INFO server names the process id")
    }

    /// Freezes it (SIGSTOP) for `how_long`, then lets it go on (SIGCONT): a broker that stops
    /// answering without closing a connection.
    pub fn freeze(&self, how_long: Duration) {
        let pid = self.pid();
        let signal = |name: &str| {
            let ok = Command::new("kill")
                .args([name, &pid])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill {name} {pid}");
        };
        signal("-STOP");
        std::thread::sleep(how_long);
        signal("-CONT");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `redis-cli COMMAND...`, its raw output's lines.
    pub fn cli(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .stderr(Stdio::null())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// An `mpwasm worker` process; its stderr goes to a file, read with [`Worker::log`].
pub struct Worker {
    pub child: Child,
    log: PathBuf,
}

impl Worker {
    /// `mpwasm worker --broker URL -j 1 EXTRA...`.
    pub fn start(url: &str, extra: &[&str]) -> Worker {
        Worker::start_with_env(url, extra, &[])
    }

    /// [`Worker::start`] with `env` added to its environment.
    pub fn start_with_env(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Worker {
        let dir = std::env::temp_dir().join(format!("mpwasm-broker-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("worker-{}.log", rand_suffix()));
        let child = Command::new(mpwasm_bin())
            .args(["worker", "--broker", url, "-j", "1"])
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("mpwasm worker starts");
        Worker { child, log }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has written to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 30 s) for it to exit by itself; `what` names the situation if it hangs.
    pub fn wait_exit(&mut self, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{what}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it now (and reaps it), as a machine that dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A random hex string, to name log files apart.
fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    format!("{:x}", h.finish())
}

/// Three workers, each `-j 1`, on the broker at `redis`.
pub fn three_workers(redis: &Redis, extra: &[&str]) -> Vec<Worker> {
    (0..3).map(|_| Worker::start(&redis.url(), extra)).collect()
}
