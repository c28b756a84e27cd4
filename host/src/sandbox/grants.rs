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
