//! A redis-server of one's own for the broker's demo, benchmarks and tests: on a free
//! 127.0.0.1 port, without persistence (unless its
//! arguments ask for it), stopped when dropped. Shared by path (like
//! `guests.rs`) by xtask, the bench crate and the integration tests' broker harness; each of
//! them uses all of it, so none needs a dead-code allowance.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts one with the `extra` arguments and waits until it answers (`PING` gets `PONG`,
    /// or `NOAUTH` from a server that wants a password). Another free port is tried when the
    /// first was taken meanwhile.
    pub fn start(extra: &[&str]) -> std::io::Result<RedisServer> {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            if let Some(server) = RedisServer::start_on(port, extra)? {
                return Ok(server);
            }
        }
        Err(std::io::Error::other(
            "redis-server did not start on any of 5 free ports",
        ))
    }

    /// Starts one on `port` (as [`RedisServer::start`]; a restart uses the same port and
    /// arguments). `None` when it exits at once (the port was taken) or does not answer
    /// within 10 s.
    pub fn start_on(port: u16, extra: &[&str]) -> std::io::Result<Option<RedisServer>> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start redis-server ({e}); `cargo xtask setup` installs it"),
                )
            })?;
        let mut server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.try_wait()?.is_some() {
                return Ok(None); // it exited: the port was taken
            }
            let answer = server.query(&["PING"]).unwrap_or_default();
            if answer == "+PONG" || answer.starts_with("-NOAUTH") {
                return Ok(Some(server));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.kill();
        Ok(None)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command; returns the first line of the reply (`+PONG`, `:3`, `-ERR ...`).
    pub fn query(&self, words: &[&str]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read(&mut byte)? == 1 && byte[0] != b'\n' {
            reply.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&reply).trim_end().to_string())
    }

    /// Kills it now, as a machine that dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
