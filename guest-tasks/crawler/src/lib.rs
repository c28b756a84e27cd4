//! `crawl(url)`: fetches one page through wasi:http and adds each link on the same host that
//! no task has claimed yet (`seen:URL`, claimed with compare-and-swap) to the running job as
//! a new input, so the job walks the whole site, each page once.

use bindings::Guest;
use bindings::mpwasm::shared::{kv, work};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "crawler", generate_all });
}

struct Task;

impl Guest for Task {
    fn crawl(url: String) -> Result<String, String> {
        // The first page claims itself; the others were claimed by the task that found them.
        kv::compare_and_swap(&format!("seen:{url}"), None, Some("1"));
        let page = Url::parse(&url)?;
        let (status, body) = get(&page)?;
        let links: Vec<String> = hrefs(&body).filter_map(|href| page.join(href)).collect();
        let mut new = 0;
        for link in &links {
            if kv::compare_and_swap(&format!("seen:{link}"), None, Some("1")) {
                let input = format!("\"{}\"", link.replace('\\', "\\\\").replace('"', "\\\""));
                work::submit(&input);
                new += 1;
            }
        }
        Ok(format!("{url} {status}: {} links, {new} new", links.len()))
    }
}

/// An `http://authority/path` URL.
struct Url {
    authority: String,
    path: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: expected http://HOST/PATH"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Url {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// `href` resolved against this page, if it stays on the same host (fragment dropped).
    fn join(&self, href: &str) -> Option<String> {
        let href = href.split('#').next().unwrap_or_default();
        if href.is_empty() || href.starts_with("mailto:") {
            return None;
        }
        let path = if let Some(rest) = href.strip_prefix("http://") {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if authority != self.authority {
                return None;
            }
            if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            }
        } else if href.contains("://") {
            return None;
        } else if href.starts_with('/') {
            href.to_string()
        } else {
            let dir = &self.path[..=self.path.rfind('/').unwrap_or(0)];
            format!("{dir}{href}")
        };
        Some(format!("http://{}{}", self.authority, normalize(&path)))
    }
}

/// `path` with `.` and `..` segments resolved.
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The values of every `href="..."` in `html`.
fn hrefs(html: &str) -> impl Iterator<Item = &str> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

/// GETs `url`: its status and body.
fn get(url: &Url) -> Result<(u16, String), String> {
    let show = format!("http://{}{}", url.authority, url.path);
    let request = OutgoingRequest::new(Fields::new());
    let set = |ok: Result<(), ()>, what: &str| ok.map_err(|()| format!("{show}: bad {what}"));
    set(request.set_method(&Method::Get), "method")?;
    set(request.set_scheme(Some(&Scheme::Http)), "scheme")?;
    set(request.set_authority(Some(&url.authority)), "authority")?;
    set(request.set_path_with_query(Some(&url.path)), "path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{show}: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| format!("{show}: no response"))?
        .map_err(|()| format!("{show}: response already taken"))?
        .map_err(|e| format!("{show}: {e:?}"))?;
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| format!("{show}: no body"))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| format!("{show}: no body stream"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(format!("{show}: reading the body: {e:?}")),
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

bindings::export!(Task with_types_in bindings);
