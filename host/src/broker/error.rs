//! [`BrokerError`]: why a broker job or worker cannot go on, naming the broker (its URL with the
//! password hidden) and what to do.

use std::time::Duration;

/// A broker that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The URL cannot be used.
    #[error(
        "invalid broker URL `{url}`: {reason}; expected redis://[USER:PASSWORD@]HOST[:PORT][/DB], \
         or rediss://... for TLS"
    )]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answers at the address.
    #[error(
        "cannot reach the broker at {url}: {cause}; check that redis-server runs there and that \
         the host and port are right"
    )]
    Unreachable {
        /// The URL, password hidden.
        url: String,
        /// The connection error.
        cause: String,
    },
    /// The broker's TLS certificate could not be verified.
    #[error(
        "the broker at {url} failed TLS verification: {cause}; if its certificate comes from a \
         private CA, name that CA's certificate (PEM) in $MPWASM_BROKER_CA"
    )]
    Tls {
        /// The URL, password hidden.
        url: String,
        /// The TLS error.
        cause: String,
    },
    /// The broker refused the credentials (or wants some).
    #[error(
        "the broker at {url} refused to let us in: {cause}; put the right user and password in \
         the URL: redis://USER:PASSWORD@HOST:PORT (or redis://:PASSWORD@HOST:PORT)"
    )]
    Auth {
        /// The URL, password hidden.
        url: String,
        /// The broker's answer.
        cause: String,
    },
    /// The connection was lost and could not be made again in time.
    #[error(
        "lost the broker at {url}: {cause} (reconnecting failed for {}s)",
        waited.as_secs()
    )]
    Lost {
        /// The URL, password hidden.
        url: String,
        /// The last error.
        cause: String,
        /// How long reconnecting was tried.
        waited: Duration,
    },
    /// A key a command needed is gone (`NOGROUP`, or `UNBLOCKED` for a blocked read of a
    /// stream that was deleted): the job it belongs to ended and its keys
    /// were deleted while the command ran. Callers take it as the job's end; it is never a
    /// reason to stop.
    #[error("the broker at {url} no longer has what `{what}` needed: {cause} (did the job end?)")]
    Gone {
        /// The URL, password hidden.
        url: String,
        /// The command.
        what: String,
        /// The broker's answer.
        cause: String,
    },
    /// The broker answered something unexpected (an old Redis, another program's keys).
    #[error(
        "the broker at {url} failed `{what}`: {cause} (mpwasm needs Redis 6.2 or newer, and \
         the keys under mpwasm:)"
    )]
    Protocol {
        /// The URL, password hidden.
        url: String,
        /// The command.
        what: String,
        /// The broker's answer.
        cause: String,
    },
    /// The module or the pool cannot be set up.
    #[error(transparent)]
    Pool(#[from] crate::Error),
}
