//! `mpwasm test`'s config file, `.config/mpwasm.toml`, in cargo-nextest's shape: profiles
//! (`[profile.default]`, and named ones that fall back to it) holding the run's settings, and
//! `[[profile.NAME.overrides]]` that change some tests' limits. [`ConfigFile::find`] looks for
//! the file, [`ConfigFile::profile`] checks the chosen profile; [`Limits::for_test`] says what
//! one test gets. Every error names the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use mpwasm::limits::{parse_duration, parse_size};
use serde::Deserialize;
use toml::Spanned;

/// Where the file is looked for, from the current directory upwards.
pub const FILE: &str = ".config/mpwasm.toml";

/// The profile used without `--profile` or `$MPWASM_PROFILE`.
pub const DEFAULT_PROFILE: &str = "default";

/// The file as written: only `[profile.NAME]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    profile: BTreeMap<String, RawProfile>,
}

/// One `[profile.NAME]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    retries: Option<u32>,
    slow_timeout: Option<Spanned<String>>,
    terminate_after: Option<Spanned<u32>>,
    fail_fast: Option<Spanned<bool>>,
    max_fail: Option<Spanned<u32>>,
    junit: Option<RawJunit>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
}

/// `[profile.NAME.junit]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJunit {
    path: PathBuf,
}

/// One `[[profile.NAME.overrides]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOverride {
    filter: Spanned<String>,
    binary: Option<String>,
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    retries: Option<u32>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    dir: Vec<String>,
}

/// The config file, read and parsed (not yet checked: that is per profile).
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    text: String,
    raw: RawFile,
}

impl ConfigFile {
    /// The file `--config` names, or else the first `.config/mpwasm.toml` in the current
    /// directory or one above it; `None` without either.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid config (naming the file, line and key).
    pub fn find(explicit: Option<&Path>) -> Result<Option<ConfigFile>> {
        let path = match explicit {
            Some(path) => {
                if !path.is_file() {
                    bail!("--config {}: no such file", path.display());
                }
                path.to_path_buf()
            }
            None => {
                let Ok(here) = std::env::current_dir() else {
                    return Ok(None);
                };
                match here
                    .ancestors()
                    .map(|dir| dir.join(FILE))
                    .find(|p| p.is_file())
                {
                    Some(path) => path,
                    None => return Ok(None),
                }
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
        ConfigFile::parse(path, text).map(Some)
    }

    /// Parses `text`, the contents of `path`.
    ///
    /// # Errors
    /// When it is not TOML or holds a key mpwasm does not know.
    pub fn parse(path: PathBuf, text: String) -> Result<ConfigFile> {
        match toml::from_str::<RawFile>(&text) {
            Ok(raw) => Ok(ConfigFile { path, text, raw }),
            Err(e) => {
                let at = e
                    .span()
                    .map_or_else(|| path.display().to_string(), |s| place(&path, &text, &s));
                bail!(
                    "{at}: {} (the keys are listed in README.md, \"mpwasm test\")",
                    e.message().trim_end()
                )
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding `.config/`, against which relative paths in the file count.
    fn root(&self) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        match dir.file_name() {
            Some(name) if name == ".config" => dir.parent().unwrap_or(dir).to_path_buf(),
            _ => dir.to_path_buf(),
        }
    }

    /// `file:line:column` for a span of the file.
    fn at(&self, span: &Range<usize>) -> String {
        place(&self.path, &self.text, span)
    }

    /// The profile `name`, checked, falling back to `[profile.default]` for what it leaves
    /// out; its overrides come before the default profile's.
    ///
    /// # Errors
    /// When there is no such profile, or a value is wrong (naming the line and the key).
    pub fn profile(&self, name: &str) -> Result<Profile> {
        let empty = RawProfile::default();
        let default = self.raw.profile.get(DEFAULT_PROFILE).unwrap_or(&empty);
        let chosen = match self.raw.profile.get(name) {
            Some(profile) => profile,
            None if name == DEFAULT_PROFILE => &empty,
            None => {
                let known: Vec<&str> = self.raw.profile.keys().map(String::as_str).collect();
                bail!(
                    "profile `{name}` is not in {} (it has: {})",
                    self.path.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
        };
        let layers = if name == DEFAULT_PROFILE {
            vec![chosen]
        } else {
            vec![chosen, default]
        };
        let first =
            |get: fn(&RawProfile) -> Option<&Spanned<String>>| layers.iter().find_map(|p| get(p));
        let duration = |key: &str, value: Option<&Spanned<String>>| -> Result<Option<Duration>> {
            value.map(|v| self.duration(key, v)).transpose()
        };
        let mut profile = Profile {
            timeout: duration("timeout", first(|p| p.timeout.as_ref()))?,
            memory: first(|p| p.memory.as_ref())
                .map(|v| self.size("memory", v))
                .transpose()?,
            retries: layers.iter().find_map(|p| p.retries),
            slow_timeout: duration("slow-timeout", first(|p| p.slow_timeout.as_ref()))?,
            terminate_after: None,
            max_fail: None,
            junit: layers
                .iter()
                .find_map(|p| p.junit.as_ref())
                .map(|j| self.root().join(&j.path)),
            overrides: Vec::new(),
        };
        if let Some(k) = layers.iter().find_map(|p| p.terminate_after.as_ref()) {
            if *k.get_ref() == 0 {
                bail!(
                    "{}: terminate-after = 0: expected a number of slow periods, 1 or more",
                    self.at(&k.span())
                );
            }
            if profile.slow_timeout.is_none() {
                bail!(
                    "{}: terminate-after counts slow-timeout periods, and the profile has no \
                     slow-timeout",
                    self.at(&k.span())
                );
            }
            profile.terminate_after = Some(*k.get_ref());
        }
        // fail-fast and max-fail: whichever the nearer layer sets.
        for layer in &layers {
            match (&layer.fail_fast, &layer.max_fail) {
                (Some(_), Some(max)) => bail!(
                    "{}: max-fail and fail-fast in one profile: keep one (fail-fast = true is \
                     max-fail = 1)",
                    self.at(&max.span())
                ),
                (Some(fast), None) => {
                    profile.max_fail = Some(fast.get_ref().then_some(1));
                    break;
                }
                (None, Some(max)) => {
                    if *max.get_ref() == 0 {
                        bail!(
                            "{}: max-fail = 0: expected a number of failed tests, 1 or more \
                             (fail-fast = false runs them all)",
                            self.at(&max.span())
                        );
                    }
                    profile.max_fail = Some(Some(*max.get_ref() as usize));
                    break;
                }
                (None, None) => {}
            }
        }
        for (layer, layer_name) in layers.iter().zip([name, DEFAULT_PROFILE]) {
            for raw in &layer.overrides {
                profile
                    .overrides
                    .push(self.check_override(layer_name, raw)?);
            }
        }
        Ok(profile)
    }

    fn duration(&self, key: &str, value: &Spanned<String>) -> Result<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => bail!(
                "{}: {key} = \"{}\": the limit must be above 0",
                self.at(&value.span()),
                value.get_ref()
            ),
            Err(e) => bail!("{}: {key}: {e}", self.at(&value.span())),
        }
    }

    fn size(&self, key: &str, value: &Spanned<String>) -> Result<u64> {
        match parse_size(value.get_ref()) {
            Ok(n) if n > 0 => Ok(n),
            Ok(_) => bail!(
                "{}: {key} = \"{}\": the limit must be above 0",
                self.at(&value.span()),
                value.get_ref()
            ),
            Err(e) => bail!("{}: {key}: {e}", self.at(&value.span())),
        }
    }

    fn check_override(&self, profile: &str, raw: &RawOverride) -> Result<Override> {
        let at = self.at(&raw.filter.span());
        let filter =
            Filter::parse(raw.filter.get_ref()).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        for key in raw.env.keys() {
            if key.is_empty() || key.contains('=') {
                bail!("{at}: env: `{key}` is not a variable name");
            }
        }
        let mut dirs = Vec::new();
        for text in &raw.dir {
            let grant =
                mpwasm::DirGrant::parse(text).map_err(|e| anyhow::anyhow!("{at}: dir: {e}"))?;
            dirs.push(self.rooted(text, &grant));
        }
        Ok(Override {
            place: format!("{at}, profile {profile}"),
            filter,
            binary: raw.binary.clone(),
            timeout: raw
                .timeout
                .as_ref()
                .map(|v| self.duration("timeout", v))
                .transpose()?,
            memory: raw
                .memory
                .as_ref()
                .map(|v| self.size("memory", v))
                .transpose()?,
            retries: raw.retries,
            env: raw
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            dirs,
        })
    }

    /// A `dir` entry with its host directory made absolute against [`ConfigFile::root`], so
    /// the grant means the same wherever mpwasm runs; the guest path stays as written.
    fn rooted(&self, text: &str, grant: &mpwasm::DirGrant) -> String {
        if grant.host.is_absolute() {
            return text.to_string();
        }
        format!(
            "{}::{}{}",
            self.root().join(&grant.host).display(),
            grant.guest,
            if grant.read_only { ":ro" } else { "" }
        )
    }
}

/// `path:line:column` of the start of `span` in `text`.
fn place(path: &Path, text: &str, span: &Range<usize>) -> String {
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

/// A checked profile: what it sets (`None`: it leaves that to the flags' defaults).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `memory`, in bytes.
    pub memory: Option<u64>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `slow-timeout`.
    pub slow_timeout: Option<Duration>,
    /// `terminate-after`: slow periods after which a test is stopped.
    pub terminate_after: Option<u32>,
    /// From `fail-fast` or `max-fail`: `Some(None)` runs every test, `Some(Some(n))` stops
    /// after n failures.
    pub max_fail: Option<Option<usize>>,
    /// `junit.path`, relative to the directory holding `.config/`.
    pub junit: Option<PathBuf>,
    /// Its overrides, then the default profile's, in the file's order.
    pub overrides: Vec<Override>,
}

/// Which tests an override applies to, by name.
#[derive(Debug, Clone)]
pub enum Filter {
    /// The name contains this (`filter = "net::"`).
    Contains(String),
    /// The name is exactly this (`filter = "exact:net::tests::slow"`).
    Exact(String),
    /// The name matches this regular expression (`filter = "re:^net::.*_slow$"`).
    Regex(regex_lite::Regex),
}

impl Filter {
    /// `exact:NAME`, `re:REGEX`, or else a substring.
    ///
    /// # Errors
    /// An empty filter, or a regular expression that does not parse.
    pub fn parse(text: &str) -> Result<Filter, String> {
        if let Some(name) = text.strip_prefix("exact:") {
            return Ok(Filter::Exact(name.to_string()));
        }
        if let Some(pattern) = text.strip_prefix("re:") {
            return regex_lite::Regex::new(pattern)
                .map(Filter::Regex)
                .map_err(|e| format!("filter `{text}`: not a regular expression: {e}"));
        }
        if text.is_empty() {
            return Err(
                "filter = \"\": an empty filter matches every test; write what the \
                        names contain, `exact:NAME` or `re:REGEX`"
                    .to_string(),
            );
        }
        Ok(Filter::Contains(text.to_string()))
    }

    /// Whether the test called `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Filter::Contains(part) => name.contains(part.as_str()),
            Filter::Exact(whole) => name == whole,
            Filter::Regex(re) => re.is_match(name),
        }
    }
}

/// One checked override.
#[derive(Debug, Clone)]
pub struct Override {
    /// Where it is, for `--show-config`: `file:line:column, profile NAME`.
    pub place: String,
    /// Which tests, by name.
    pub filter: Filter,
    /// Only the tests of this binary (its crate name), when set.
    pub binary: Option<String>,
    /// Their time limit.
    pub timeout: Option<Duration>,
    /// Their memory limit, in bytes.
    pub memory: Option<u64>,
    /// How often they run again after failing.
    pub retries: Option<u32>,
    /// Variables they get besides the run's own.
    pub env: Vec<(String, String)>,
    /// Directories they get besides the run's own, as `--dir` writes them.
    pub dirs: Vec<String>,
}

impl Override {
    fn applies(&self, binary: &str, name: &str) -> bool {
        self.binary.as_deref().is_none_or(|b| b == binary) && self.filter.matches(name)
    }
}

/// What every test gets before overrides, and which of it the flags fixed.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The time limit.
    pub timeout: Duration,
    /// The memory limit, in bytes.
    pub memory: u64,
    /// How often a failed test runs again.
    pub retries: u32,
    /// Which of the three a flag set: overrides leave those alone.
    pub fixed: Fixed,
    /// Which of them the config file's profile set (and no flag).
    pub configured: Fixed,
    /// The slow-test period, and after how many of them a test is stopped.
    pub slow: Option<(Duration, Option<u32>)>,
    /// The overrides, in the order they are tried.
    pub overrides: Vec<Override>,
    /// The variables `--env` gives: an override does not change them.
    pub flag_env: Vec<String>,
}

/// Which of the limits (time, memory, retries) something set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fixed {
    /// `--timeout`.
    pub timeout: bool,
    /// `--memory`.
    pub memory: bool,
    /// `--retries`.
    pub retries: bool,
}

/// What one test runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLimits {
    /// The time limit it gets (at most the slow periods `terminate-after` allows).
    pub timeout: Duration,
    /// Whether that limit is `terminate-after`'s: it is stopped as slow.
    pub terminated_as_slow: bool,
    /// Its memory limit, in bytes.
    pub memory: u64,
    /// How often it runs again after failing.
    pub retries: u32,
    /// Which of its limits come from the config file (a profile or an override), so that
    /// a message about them does not name the flag.
    pub configured: Fixed,
    /// Variables it gets besides the run's.
    pub env: Vec<(String, String)>,
    /// Directories it gets besides the run's.
    pub dirs: Vec<String>,
    /// The overrides that apply to it (where they are).
    pub overrides: Vec<String>,
}

impl TestLimits {
    /// What needs a pool of its own: tests that share it share a pool.
    pub fn pool_key(&self) -> (Duration, u64, &[(String, String)], &[String]) {
        (self.timeout, self.memory, &self.env, &self.dirs)
    }
}

impl Limits {
    /// What test `name` of binary `binary` gets: for each setting, the flag's value, or the
    /// first override that matches and sets it, or the profile's; the variables and
    /// directories of every matching override (the first one to name a variable wins).
    pub fn for_test(&self, binary: &str, name: &str) -> TestLimits {
        let mut limits = TestLimits {
            timeout: self.timeout,
            terminated_as_slow: false,
            memory: self.memory,
            retries: self.retries,
            configured: self.configured,
            env: Vec::new(),
            dirs: Vec::new(),
            overrides: Vec::new(),
        };
        let (mut timeout, mut memory, mut retries) = (None, None, None);
        for o in self.overrides.iter().filter(|o| o.applies(binary, name)) {
            limits.overrides.push(o.place.clone());
            timeout = timeout.or(o.timeout);
            memory = memory.or(o.memory);
            retries = retries.or(o.retries);
            for (key, value) in &o.env {
                if !limits.env.iter().any(|(k, _)| k == key) && !self.flag_env.contains(key) {
                    limits.env.push((key.clone(), value.clone()));
                }
            }
            for dir in &o.dirs {
                if !limits.dirs.contains(dir) {
                    limits.dirs.push(dir.clone());
                }
            }
        }
        if let (false, Some(timeout)) = (self.fixed.timeout, timeout) {
            limits.timeout = timeout;
            limits.configured.timeout = true;
        }
        if let (false, Some(memory)) = (self.fixed.memory, memory) {
            limits.memory = memory;
            limits.configured.memory = true;
        }
        if let (false, Some(retries)) = (self.fixed.retries, retries) {
            limits.retries = retries;
            limits.configured.retries = true;
        }
        self.terminate(limits)
    }

    /// What a test that no override matches gets.
    pub fn base(&self) -> TestLimits {
        self.terminate(TestLimits {
            timeout: self.timeout,
            terminated_as_slow: false,
            memory: self.memory,
            retries: self.retries,
            configured: self.configured,
            env: Vec::new(),
            dirs: Vec::new(),
            overrides: Vec::new(),
        })
    }

    /// `limits` with `terminate-after`'s time limit, when it comes first.
    fn terminate(&self, mut limits: TestLimits) -> TestLimits {
        if let Some((period, Some(k))) = self.slow {
            let terminate = period.saturating_mul(k);
            if terminate < limits.timeout {
                limits.timeout = terminate;
                limits.terminated_as_slow = true;
            }
        }
        limits
    }
}

impl fmt::Display for TestLimits {
    /// `timeout 60s, memory 1 GiB, retries 0[, env K, dir D]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timeout {}{}, memory {}, retries {}",
            mpwasm::limits::format_duration(self.timeout),
            if self.terminated_as_slow {
                " (terminate-after)"
            } else {
                ""
            },
            mpwasm::limits::format_size(self.memory),
            self.retries
        )?;
        for (key, _) in &self.env {
            write!(f, ", env {key}")?;
        }
        for dir in &self.dirs {
            write!(f, ", dir {dir}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile> {
        ConfigFile::parse(PathBuf::from("/w/.config/mpwasm.toml"), text.to_string())
    }

    fn error(text: &str, profile: &str) -> String {
        match parse(text).and_then(|c| c.profile(profile)) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn limits(profile: &Profile, fixed: Fixed) -> Limits {
        Limits {
            timeout: profile.timeout.unwrap_or(Duration::from_secs(60)),
            memory: profile.memory.unwrap_or(1 << 30),
            retries: profile.retries.unwrap_or(0),
            fixed,
            configured: Fixed::default(),
            slow: profile.slow_timeout.map(|s| (s, profile.terminate_after)),
            overrides: profile.overrides.clone(),
            flag_env: Vec::new(),
        }
    }

    const FILE_TEXT: &str = r#"
[profile.default]
timeout = "30s"
retries = 1

[[profile.default.overrides]]
filter = "net::"
timeout = "2m"
env = { NET = "1" }

[profile.ci]
memory = "256MiB"
slow-timeout = "10s"
terminate-after = 3
max-fail = 2
junit = { path = "target/junit.xml" }

[[profile.ci.overrides]]
filter = "re:^net::big_"
memory = "2GiB"
retries = 4
dir = ["/data::/data:ro", "fixtures"]
"#;

    #[test]
    fn a_named_profile_falls_back_to_the_default_one() {
        let file = parse(FILE_TEXT).expect("parses");
        let ci = file.profile("ci").expect("checks");
        assert_eq!(ci.timeout, Some(Duration::from_secs(30)));
        assert_eq!(ci.memory, Some(256 << 20));
        assert_eq!(ci.retries, Some(1));
        assert_eq!(ci.max_fail, Some(Some(2)));
        assert_eq!(ci.junit, Some(PathBuf::from("/w/target/junit.xml")));
        assert_eq!(ci.overrides.len(), 2);
        let default = file.profile("default").expect("checks");
        assert_eq!((default.memory, default.max_fail), (None, None));
        assert_eq!(default.overrides.len(), 1);
    }

    #[test]
    fn overrides_apply_in_order_and_flags_win() {
        let file = parse(FILE_TEXT).expect("parses");
        let ci = file.profile("ci").expect("checks");
        let base = limits(&ci, Fixed::default());
        // Matched by both: the ci override's memory and retries, the default one's timeout,
        // capped by terminate-after (3 × 10s).
        let big = base.for_test("b", "net::big_one");
        assert_eq!(big.memory, 2 << 30);
        assert_eq!(big.retries, 4);
        assert_eq!(big.timeout, Duration::from_secs(30));
        assert!(big.terminated_as_slow);
        assert_eq!(big.env, vec![("NET".to_string(), "1".to_string())]);
        // A relative directory is the config root's, seen by the test at the path written.
        assert_eq!(big.dirs, ["/data::/data:ro", "/w/fixtures::fixtures"]);
        assert_eq!(big.overrides.len(), 2);
        assert!(
            big.overrides[0].starts_with("/w/.config/mpwasm.toml:19:"),
            "{big:?}"
        );
        let plain = base.for_test("b", "util::one");
        assert_eq!((plain.memory, plain.retries), (256 << 20, 1));
        assert!(plain.overrides.is_empty());
        // --memory and --retries given: the overrides change only the timeout.
        let fixed = limits(
            &ci,
            Fixed {
                memory: true,
                retries: true,
                timeout: false,
            },
        );
        let big = fixed.for_test("b", "net::big_one");
        assert_eq!((big.memory, big.retries), (256 << 20, 1));
    }

    #[test]
    fn filters_are_substrings_exact_names_or_regular_expressions() {
        let cases = [
            ("net", "a::net::b", true),
            ("exact:a::b", "a::b", true),
            ("exact:a::b", "a::bc", false),
            ("re:^a::b$", "a::b", true),
            ("re:^a::b$", "x::a::b", false),
        ];
        for (filter, name, want) in cases {
            let f = Filter::parse(filter).expect("parses");
            assert_eq!(f.matches(name), want, "{filter} on {name}");
        }
        assert!(Filter::parse("").is_err());
        assert!(
            Filter::parse("re:(")
                .expect_err("refused")
                .contains("not a regular expression")
        );
    }

    #[test]
    fn an_override_only_for_one_binary() {
        let file = parse(
            "[[profile.default.overrides]]\nfilter = \"slow\"\nbinary = \"net\"\nretries = 3\n",
        )
        .expect("parses");
        let base = limits(&file.profile("default").expect("checks"), Fixed::default());
        assert_eq!(base.for_test("net", "slow_one").retries, 3);
        assert_eq!(base.for_test("db", "slow_one").retries, 0);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let cases = [
            (
                "[profile.default]\ntimeout = \"30s\"\ntimout = \"1s\"\n",
                "default",
                "/w/.config/mpwasm.toml:3:1: unknown field `timout`",
            ),
            (
                "[profile.default]\n\nmemory = \"lots\"\n",
                "default",
                "/w/.config/mpwasm.toml:3:10: memory:",
            ),
            (
                "[profile.ci]\nterminate-after = 2\n",
                "ci",
                "/w/.config/mpwasm.toml:2:19: terminate-after counts slow-timeout periods",
            ),
            (
                "[profile.ci]\nfail-fast = true\nmax-fail = 3\n",
                "ci",
                "/w/.config/mpwasm.toml:3:12: max-fail and fail-fast",
            ),
            (
                "[[profile.default.overrides]]\nfilter = \"re:(\"\n",
                "default",
                "/w/.config/mpwasm.toml:2:10: filter `re:(`",
            ),
            (
                "[[profile.default.overrides]]\nfilter = \"x\"\nmemroy = \"1G\"\n",
                "default",
                "/w/.config/mpwasm.toml:3:1: unknown field `memroy`",
            ),
            (
                "[profile.a]\n",
                "ci",
                "profile `ci` is not in /w/.config/mpwasm.toml (it has: a)",
            ),
            (
                "retries = 2\n",
                "default",
                "/w/.config/mpwasm.toml:1:1: unknown field `retries`",
            ),
        ];
        for (text, profile, want) in cases {
            let got = error(text, profile);
            assert!(got.starts_with(want), "{text:?}: {got}");
        }
    }

    #[test]
    fn fail_fast_is_max_fail_one_and_false_runs_all() {
        let file = parse("[profile.default]\nfail-fast = true\n[profile.all]\nfail-fast = false\n")
            .expect("parses");
        assert_eq!(file.profile("default").expect("ok").max_fail, Some(Some(1)));
        assert_eq!(file.profile("all").expect("ok").max_fail, Some(None));
    }
}
