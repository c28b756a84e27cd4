//! Capabilities a sandbox gets only when asked: preopened directories (`--dir`) and
//! environment variables (`--env`). Everything else stays closed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the pool grants every sandbox beyond computing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Environment variables, `(name, value)`.
    pub env: Vec<(String, String)>,
    /// Hosts the guest may send HTTP requests to (wasi:http); none: every request is refused.
    pub http: Vec<HttpGrant>,
}

/// One host outgoing HTTP may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGrant {
    /// The host name or IP address, as written in request URLs.
    pub host: String,
    /// The port; `None` allows the scheme's default ports (80 and 443).
    pub port: Option<u16>,
}

impl HttpGrant {
    /// Parses `HOST[:PORT]` (an IPv6 address in brackets: `[::1]:8080`).
    ///
    /// # Errors
    /// A message naming the text when it is empty or the port is not a number.
    pub fn parse(text: &str) -> Result<HttpGrant, String> {
        let bad = || {
            format!(
                "invalid --allow-http `{text}`: expected HOST[:PORT], e.g. example.com or 127.0.0.1:8080"
            )
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad()),
            }
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        Ok(HttpGrant {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request to `host:port` is allowed by this grant.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case(&self.host)
            && match self.port {
                Some(p) => p == port,
                None => port == 80 || port == 443,
            }
    }
}

/// One preopened directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

impl DirGrant {
    /// Parses `HOST[::GUEST][:ro]`: the host directory, where the guest sees it (default: the
    /// same path), and `:ro` for read-only.
    ///
    /// # Errors
    /// A message naming the text when it is empty.
    pub fn parse(text: &str) -> Result<DirGrant, String> {
        let (rest, read_only) = match text.strip_suffix(":ro") {
            Some(rest) => (rest, true),
            None => (text.strip_suffix(":rw").unwrap_or(text), false),
        };
        let (host, guest) = match rest.split_once("::") {
            Some((host, guest)) => (host, guest),
            None => (rest, rest),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!(
                "invalid --dir `{text}`: expected HOST[::GUEST][:ro], e.g. ./data::/data:ro"
            ));
        }
        Ok(DirGrant {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_grants() {
        let g = HttpGrant::parse("127.0.0.1:8080").expect("parses");
        assert!(g.allows("127.0.0.1", 8080));
        assert!(!g.allows("127.0.0.1", 8081));
        assert!(!g.allows("127.0.0.2", 8080));
        let g = HttpGrant::parse("Example.com").expect("parses");
        assert!(g.allows("example.com", 443) && g.allows("EXAMPLE.com", 80));
        assert!(!g.allows("example.com", 8443) && !g.allows("evil.example.com", 443));
        let g = HttpGrant::parse("[::1]:9000").expect("parses");
        assert!(g.allows("[::1]", 9000));
        for bad in ["", ":80", "host:port", "a/b", "[::1"] {
            assert!(HttpGrant::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_dir_grants() {
        let cases = [
            ("/tmp", Some(("/tmp", "/tmp", false))),
            ("./data::/data", Some(("./data", "/data", false))),
            ("./data::/data:ro", Some(("./data", "/data", true))),
            ("/srv:ro", Some(("/srv", "/srv", true))),
            ("::/x", None),
            (":ro", None),
        ];
        for (text, want) in cases {
            let got = DirGrant::parse(text).ok();
            let want = want.map(|(h, g, ro)| DirGrant {
                host: PathBuf::from(h),
                guest: g.to_string(),
                read_only: ro,
            });
            assert_eq!(got, want, "{text}");
        }
    }
}
