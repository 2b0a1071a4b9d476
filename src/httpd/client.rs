//! A minimal HTTP/1.0 client for modproxy's own httpd on this machine or the LAN: the
//! balancer manager (`manager`) and `apply`'s probe. Plain HTTP only.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// One request over HTTP/1.0 (so the body ends when the connection does), with the page
/// itself as referer; `form`, if not empty, is sent as a POST body. Returns the status and
/// the body.
pub fn request(url: &str, method: &str, query: &str, form: &str) -> Result<(u16, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        anyhow!("URL {url:?} must start with http:// (modproxy talks plain HTTP to its own httpd, e.g. http://127.0.0.1/balancer-manager)")
    })?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '?', '#']) {
        bail!("URL {url:?} is not a plain http://HOST[:PORT]/PATH");
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let timeout = Duration::from_secs(5);
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .ok_or_else(|| anyhow!("{authority} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| {
        format!("cannot connect to {authority}; is httpd running, and is the manager URL right?")
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!(
        "{method} {path}{query} HTTP/1.0\r\nHost: {authority}\r\nReferer: http://{authority}{path}\r\nUser-Agent: modproxy/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if method == "POST" {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(form);
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("cannot send the request to {authority}"))?;
    let mut raw = Vec::new();
    stream
        .take(16 * 1024 * 1024)
        .read_to_end(&mut raw)
        .with_context(|| format!("cannot read the answer from {authority}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("{url} sent no HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{url} sent no HTTP status line"))?;
    Ok((status, body.to_owned()))
}
