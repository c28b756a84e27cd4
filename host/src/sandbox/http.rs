//! Outgoing HTTP (wasi:http) with an allow-list: a request to a host and port that
//! `--allow-http` did not name is refused with `HTTP-request-denied` inside the guest; an allowed
//! one goes out through wasmtime-wasi-http's client. With no grant every request is refused.

use std::future::Future;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::vocab::HttpGrant;

/// The policy hooks for one sandbox.
pub struct HttpPolicy {
    allowed: Vec<HttpGrant>,
}

impl HttpPolicy {
    /// A policy allowing exactly `allowed`.
    pub fn new(allowed: Vec<HttpGrant>) -> HttpPolicy {
        HttpPolicy { allowed }
    }

    fn permits(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        self.allowed.iter().any(|g| g.allows(host, port))
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        if !self.permits(request.uri()) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
