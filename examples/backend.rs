//! A tiny app instance for the end-to-end tests and the failover benchmark: an HTTP/1.1
//! server on 127.0.0.1 that answers every request with its own route name.
//!
//! ```text
//! backend --route a [--port 0] [--cookie zsessionid]
//! ```
//! Prints `listening on 127.0.0.1:PORT` once ready, then answers every request with
//! `route=R path=P host=H xff=X xfp=Y` (its route, the path and the Host,
//! X-Forwarded-For and X-Forwarded-Proto it received, `-` when absent), except:
//! - `.../health` answers `ok`;
//! - a path containing `/slow` answers after 3 seconds;
//! - a path containing `/status/503` answers 503;
//! - a WebSocket upgrade request gets `101 Switching Protocols`, then every byte is echoed.
//!
//! With `--cookie NAME`, a request without that cookie gets `NAME=<n>.<route>` (sMash-style
//! session id carrying the route). Runs until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

static SESSIONS: AtomicU64 = AtomicU64::new(1);

struct Config {
    route: String,
    port: u16,
    cookie: Option<String>,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        route: String::new(),
        port: 0,
        cookie: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--route" => cfg.route = value,
            "--port" => cfg.port = value.parse().map_err(|_| "bad --port")?,
            "--cookie" => cfg.cookie = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if cfg.route.is_empty() {
        return Err("--route is required".into());
    }
    Ok(cfg)
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend: {e}\nusage: backend --route NAME [--port N] [--cookie NAME]");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", cfg.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend: cannot listen on 127.0.0.1:{}: {e}", cfg.port);
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(cfg.port);
    println!("listening on 127.0.0.1:{port}");
    let _ = std::io::stdout().flush();
    let cfg: &'static Config = Box::leak(Box::new(cfg));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream, cfg);
        });
    }
}

/// Serves requests on one keep-alive connection until the peer closes it.
fn serve(stream: TcpStream, cfg: &Config) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let mut content_length = 0usize;
        let mut cookie_header = String::new();
        let mut close = request_line.ends_with("HTTP/1.0\r\n");
        let mut upgrade = false;
        let (mut host, mut xff, mut xfp) = ("-".to_owned(), "-".to_owned(), "-".to_owned());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "cookie" => cookie_header = value.to_owned(),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "upgrade" => upgrade = value.eq_ignore_ascii_case("websocket"),
                "host" => host = value.to_owned(),
                "x-forwarded-for" => xff = value.replace(' ', ""),
                "x-forwarded-proto" => xfp = value.to_owned(),
                _ => {}
            }
        }
        let mut body_in = vec![0; content_length];
        reader.read_exact(&mut body_in)?;

        if upgrade {
            write!(
                writer,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Route: {}\r\n\r\n",
                cfg.route
            )?;
            writer.flush()?;
            // Echo raw bytes: enough to prove the tunnel, without WebSocket framing.
            let mut buf = [0u8; 4096];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                writer.write_all(&buf[..n])?;
                writer.flush()?;
            }
        }
        if path.contains("/slow") {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        let status = if path.contains("/status/503") {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        let mut extra = String::new();
        let body = if path.split('?').next().unwrap_or("").ends_with("/health") {
            "ok\n".to_owned()
        } else {
            if let Some(name) = &cfg.cookie
                && !cookie_header
                    .split(';')
                    .any(|c| c.trim().starts_with(&format!("{name}=")))
            {
                let id = SESSIONS.fetch_add(1, Ordering::Relaxed);
                extra = format!("Set-Cookie: {name}={id}.{}; Path=/\r\n", cfg.route);
            }
            format!(
                "route={} path={path} host={host} xff={xff} xfp={xfp}\n",
                cfg.route
            )
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Route: {}\r\n{extra}{}\r\n{body}",
            body.len(),
            cfg.route,
            if close { "Connection: close\r\n" } else { "" }
        )?;
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
}
