//! `fetch(url) -> result<string, string>`: one HTTP GET through wasi:http, for the web-crawling
//! use case and the tests of `--allow-http`.

use bindings::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "fetch" });
}

struct Task;

impl Guest for Task {
    fn fetch(url: String) -> Result<String, String> {
        get(&url)
    }
}

fn get(url: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url}: expected http://HOST/PATH"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("{url}: unsupported scheme {other}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let set = |ok: Result<(), ()>, what: &str| ok.map_err(|()| format!("{url}: bad {what}"));
    set(request.set_method(&Method::Get), "method")?;
    set(request.set_scheme(Some(&scheme)), "scheme")?;
    set(request.set_authority(Some(authority)), "authority")?;
    set(request.set_path_with_query(Some(path)), "path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{url}: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| format!("{url}: no response"))?
        .map_err(|()| format!("{url}: response already taken"))?
        .map_err(|e| format!("{url}: {e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| format!("{url}: no body"))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| format!("{url}: no body stream"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(format!("{url}: reading the body: {e:?}")),
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

bindings::export!(Task with_types_in bindings);
