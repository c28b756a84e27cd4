//! The checked settings of the commands that watch a cluster: `mpwasm status` (the broker, the
//! format, whether to redraw) and `mpwasm dashboard` (the broker, the address to listen on and
//! whether it is loopback, the token).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, bail};
use mpwasm::broker::BrokerUrl;

use crate::cli::args::{DashboardArgs, StatusArgs};

/// What `mpwasm status` does.
#[derive(Debug)]
pub struct StatusSettings {
    /// The broker, checked.
    pub url: Arc<BrokerUrl>,
    /// One JSON object instead of tables.
    pub json: bool,
    /// Again every second until Ctrl-C.
    pub watch: bool,
}

impl StatusSettings {
    /// Checks `mpwasm status`'s flags.
    ///
    /// # Errors
    /// A broker URL that is not one.
    pub fn new(args: StatusArgs) -> Result<StatusSettings> {
        Ok(StatusSettings {
            url: Arc::new(BrokerUrl::parse(&args.broker)?),
            json: args.json,
            watch: args.watch,
        })
    }
}

/// What `mpwasm dashboard` does.
#[derive(Debug)]
pub struct DashboardSettings {
    /// The broker, checked.
    pub url: Arc<BrokerUrl>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The token every request must carry, if any.
    pub token: Option<String>,
}

impl DashboardSettings {
    /// Checks `mpwasm dashboard`'s flags.
    ///
    /// # Errors
    /// A broker URL that is not one, an address that is not ADDRESS:PORT, an empty token.
    pub fn new(args: DashboardArgs) -> Result<DashboardSettings> {
        let Ok(listen) = args.listen.parse::<SocketAddr>() else {
            bail!(
                "--listen `{}`: expected ADDRESS:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                args.listen
            );
        };
        let token = match args.token {
            Some(token) if token.trim().is_empty() => {
                bail!("--token is empty: give the token requests must carry, or leave it out")
            }
            token => token,
        };
        Ok(DashboardSettings {
            url: Arc::new(BrokerUrl::parse(&args.broker)?),
            listen,
            token,
        })
    }

    /// Whether only this machine can reach the address.
    pub fn loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }
}
