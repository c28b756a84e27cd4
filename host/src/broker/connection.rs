//! Talking to the broker: checking `redis://` and `rediss://` URLs, connecting with a timeout,
//! telling a wrong password from an unreachable server, and [`Conn`], a connection that rides
//! out short outages (a restart, a network blip) by reconnecting with backoff before it gives
//! up with [`BrokerError::Lost`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{RedisError, RedisResult};

use super::error::BrokerError;

/// How long connecting (TCP, TLS, AUTH) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one reply may take; longer than any blocking read mpwasm issues.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a lost connection is retried before giving up, unless `$MPWASM_BROKER_PATIENCE`
/// says otherwise (a duration: `5s`, `2m`).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// [`PATIENCE`], or `$MPWASM_BROKER_PATIENCE` when it is set to a duration.
pub fn patience() -> Duration {
    std::env::var("MPWASM_BROKER_PATIENCE")
        .ok()
        .and_then(|text| crate::limits::parse_duration(&text).ok())
        .unwrap_or(PATIENCE)
}

/// A broker's address, checked. Shown with its password hidden.
#[derive(Debug, Clone)]
pub struct BrokerUrl {
    shown: String,
    client: redis::Client,
}

impl BrokerUrl {
    /// Checks `text`: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` or `rediss://...` (TLS,
    /// verified against the web's root certificates, or against the PEM file named by
    /// `$MPWASM_BROKER_CA`). Nothing is connected yet.
    ///
    /// # Errors
    /// [`BrokerError::BadUrl`] naming what is wrong.
    pub fn parse(text: &str) -> Result<BrokerUrl, BrokerError> {
        let shown = redact(text);
        let bad = |reason: String| BrokerError::BadUrl {
            url: shown.clone(),
            reason,
        };
        let (tls, rest) = if let Some(rest) = text.strip_prefix("rediss://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("redis://") {
            (false, rest)
        } else {
            return Err(bad("it must start with redis:// or rediss://".into()));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err(bad("it names no host".into()));
        }
        let client = if tls {
            // rustls needs one crypto provider for the process; another may be installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
            match std::env::var_os("MPWASM_BROKER_CA").filter(|v| !v.is_empty()) {
                Some(ca) => {
                    let pem = std::fs::read(&ca).map_err(|e| {
                        bad(format!(
                            "cannot read the CA certificate {} named by $MPWASM_BROKER_CA: {e}",
                            std::path::Path::new(&ca).display()
                        ))
                    })?;
                    redis::Client::build_with_tls(
                        text,
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem),
                        },
                    )
                }
                None => redis::Client::open(text),
            }
        } else {
            redis::Client::open(text)
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(BrokerUrl { shown, client })
    }

    /// The URL with its password replaced by `***`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Connects, authenticates and checks the broker answers.
    ///
    /// # Errors
    /// [`BrokerError::Unreachable`] or [`BrokerError::Auth`].
    pub(crate) fn connect(&self) -> Result<redis::Connection, BrokerError> {
        let mut con = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| self.connect_error(&e))?;
        let timeouts = con
            .set_read_timeout(Some(READ_TIMEOUT))
            .and_then(|()| con.set_write_timeout(Some(READ_TIMEOUT)));
        timeouts.map_err(|e| self.connect_error(&e))?;
        // Without a password, a broker that wants one says so on the first command.
        redis::cmd("PING")
            .query::<()>(&mut con)
            .map_err(|e| self.connect_error(&e))?;
        Ok(con)
    }

    fn connect_error(&self, e: &RedisError) -> BrokerError {
        let url = self.shown.clone();
        let cause = e.to_string();
        let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"));
        let tls = cause.contains("certificate") || cause.contains("TLS") || cause.contains("tls");
        if auth {
            BrokerError::Auth { url, cause }
        } else if tls {
            BrokerError::Tls { url, cause }
        } else if transient(e) {
            BrokerError::Unreachable { url, cause }
        } else {
            BrokerError::Protocol {
                url,
                what: "connect".into(),
                cause,
            }
        }
    }
}

/// Hides the password of a URL: `redis://user:***@host`.
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{scheme}://{hidden}@{host}{tail}")
        }
        None => text.to_string(),
    }
}

/// Whether an error is the connection's (worth reconnecting), not the command's.
fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("LOADING" | "TRYAGAIN" | "MASTERDOWN"))
}

/// A connection that reconnects: each command runs through [`Conn::run`].
pub(crate) struct Conn {
    url: Arc<BrokerUrl>,
    con: Option<redis::Connection>,
    patience: Duration,
}

impl Conn {
    /// Connects now.
    ///
    /// # Errors
    /// As [`BrokerUrl::connect`].
    pub(crate) fn open(url: Arc<BrokerUrl>) -> Result<Conn, BrokerError> {
        let con = url.connect()?;
        Ok(Conn {
            url,
            con: Some(con),
            patience: patience(),
        })
    }

    /// How long [`run`](Self::run) keeps reconnecting from now on (zero: one try).
    pub(crate) fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    /// The broker's URL.
    pub(crate) fn url(&self) -> &BrokerUrl {
        &self.url
    }

    /// Runs `f` on the connection. When the connection fails, reconnects with backoff (50 ms
    /// doubling to 2 s) and runs `f` again, for up to [`patience`]; a command may so run
    /// twice, which every caller tolerates. An error of the command itself is not retried.
    /// ([`set_patience`](Self::set_patience) changes how long.)
    ///
    /// # Errors
    /// [`BrokerError::Lost`] after [`patience`], [`BrokerError::Auth`] if the broker stops
    /// accepting the credentials, [`BrokerError::Gone`] when a job's key the command needed
    /// was deleted, [`BrokerError::Protocol`] for any other refused command (`what` names it).
    pub(crate) fn run<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut redis::Connection) -> RedisResult<T>,
    ) -> Result<T, BrokerError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let cause = match self.con.as_mut() {
                Some(con) => match f(con) {
                    Ok(value) => return Ok(value),
                    Err(e) if transient(&e) => {
                        self.con = None;
                        e.to_string()
                    }
                    // The job's stream or consumer group was deleted (a blocked read of it is
                    // `UNBLOCKED`): the job ended.
                    Err(e) if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) => {
                        return Err(BrokerError::Gone {
                            url: self.url.shown.clone(),
                            what: what.to_string(),
                            cause: e.to_string(),
                        });
                    }
                    Err(e) => {
                        return Err(BrokerError::Protocol {
                            url: self.url.shown.clone(),
                            what: what.to_string(),
                            cause: e.to_string(),
                        });
                    }
                },
                None => match self.url.connect() {
                    Ok(con) => {
                        self.con = Some(con);
                        continue;
                    }
                    Err(e @ (BrokerError::Auth { .. } | BrokerError::Tls { .. })) => {
                        return Err(e);
                    }
                    Err(BrokerError::Unreachable { cause, .. }) => cause,
                    Err(e) => e.to_string(),
                },
            };
            if started.elapsed() >= self.patience {
                return Err(BrokerError::Lost {
                    url: self.url.shown.clone(),
                    cause,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

/// The broker's clock, in milliseconds since the Unix epoch (`TIME`): every machine's
/// heartbeat and every liveness check use the one clock, whatever the machines' own say.
pub(crate) fn broker_time_ms(c: &mut redis::Connection) -> RedisResult<u64> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(c)?;
    Ok(secs * 1000 + micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:secret@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("rediss://me:pw@h"), "rediss://me:***@h");
        assert_eq!(redact("redis://token@h"), "redis://***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn bad_urls_say_why() {
        for (text, why) in [
            ("http://h:1", "must start with redis://"),
            ("redis://", "names no host"),
            ("redis://:pw@:6379", "names no host"),
            ("h:6379", "must start with redis://"),
        ] {
            let message = BrokerUrl::parse(text)
                .map(|_| ())
                .expect_err("refused")
                .to_string();
            assert!(message.contains(why), "{text}: {message}");
            assert!(!message.contains("pw@"), "{message}");
        }
        assert!(BrokerUrl::parse("redis://user:pw@127.0.0.1:6379/2").is_ok());
    }
}
