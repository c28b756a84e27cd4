//! The second wall: before a worker runs any guest code it confines its own process with
//! Landlock (Linux), so even a wasmtime escape cannot open files outside the granted
//! directories, make TCP connections or signal other processes. `no_new_privs` is set too.
//! Where the kernel lacks Landlock the worker runs unconfined and says so. The seccomp filter
//! ([`super::seccomp`]) is added to the same [`Confinement`] report.

use crate::vocab::Grants;

/// What the worker could enforce, for the host to report.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// Whether every requested restriction is in force.
    pub full: bool,
    /// A sentence saying what is enforced.
    pub summary: String,
}

impl Confinement {
    /// Adds what installing the seccomp filter gave: its summary, or why it is not in force.
    pub fn with_seccomp(mut self, filter: Result<&str, String>) -> Confinement {
        match filter {
            Ok(summary) => {
                self.summary.push_str("; ");
                self.summary.push_str(summary);
            }
            Err(why) => {
                self.full = false;
                self.summary.push_str(&format!(
                    "; no seccomp filter ({why}): syscalls Landlock does not cover (UDP and raw \
                     sockets, exec, ptrace, namespaces) are not filtered"
                ));
            }
        }
        self
    }
}

/// Confines this process to `grants` (see the module docs).
#[cfg(target_os = "linux")]
pub fn confine(grants: &Grants) -> Confinement {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, Scope, path_beneath_rules,
    };
    let abi = ABI::V6;
    let result = (|| {
        let all = AccessFs::from_all(abi);
        let read = AccessFs::from_read(abi);
        let mut ruleset = Ruleset::default()
            .handle_access(all)?
            .handle_access(AccessNet::from_all(abi))?
            .scope(Scope::from_all(abi))?
            .create()?;
        for dir in &grants.dirs {
            let access = if dir.read_only { read } else { all };
            ruleset = ruleset.add_rules(path_beneath_rules([&dir.host], access))?;
        }
        if !grants.http.is_empty() {
            // Outgoing HTTP needs its ports, and name resolution its configuration files.
            let mut ports: Vec<u16> = grants
                .http
                .iter()
                .flat_map(|g| g.port.map_or(vec![80, 443], |p| vec![p]))
                .collect();
            ports.sort_unstable();
            ports.dedup();
            for port in ports {
                ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
            }
            let resolver = [
                "/etc/hosts",
                "/etc/resolv.conf",
                "/etc/nsswitch.conf",
                "/etc/gai.conf",
            ];
            let present: Vec<&str> = resolver
                .into_iter()
                .filter(|p| std::path::Path::new(p).exists())
                .collect();
            ruleset = ruleset.add_rules(path_beneath_rules(present, read))?;
        }
        ruleset.restrict_self()
    })();
    match result {
        Ok(status) => match status.ruleset {
            RulesetStatus::FullyEnforced => Confinement {
                full: true,
                summary: "landlock: files limited to the granted directories, TCP only to \
                          --allow-http ports, no signals or abstract sockets beyond the worker; \
                          no new privileges"
                    .into(),
            },
            RulesetStatus::PartiallyEnforced => Confinement {
                full: false,
                summary: "landlock is only partly supported by this kernel: some file, network \
                          or scope restrictions are not enforced"
                    .into(),
            },
            RulesetStatus::NotEnforced => Confinement {
                full: false,
                summary: "this kernel has no landlock: the worker process is not confined \
                          beyond the wasm sandbox"
                    .into(),
            },
        },
        Err(e) => Confinement {
            full: false,
            summary: format!(
                "landlock failed ({e}): the worker process is not confined beyond the wasm sandbox"
            ),
        },
    }
}

/// Other systems: no second wall yet.
#[cfg(not(target_os = "linux"))]
pub fn confine(_grants: &Grants) -> Confinement {
    Confinement {
        full: false,
        summary: "no OS confinement on this platform: only the wasm sandbox applies".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_seccomp_filter_makes_the_confinement_partial_and_says_why() {
        let landlock = || Confinement {
            full: true,
            summary: "landlock: on".into(),
        };
        let with = landlock().with_seccomp(Ok("seccomp: on"));
        assert!(with.full);
        assert_eq!(with.summary, "landlock: on; seccomp: on");
        let without = landlock().with_seccomp(Err("the kernel refused the filter: EINVAL".into()));
        assert!(!without.full, "the host warns when this is false");
        assert!(
            without
                .summary
                .contains("no seccomp filter (the kernel refused the filter: EINVAL)"),
            "{}",
            without.summary
        );
    }
}
