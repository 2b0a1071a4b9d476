//! A small client for etcd's v3 API through its JSON gateway (`/v3/kv/range`, `/v3/watch`,
//! ...): what the registry needs and nothing more. HTTP and TLS come from ureq (rustls);
//! keys and values travel base64-encoded, 64-bit numbers as JSON strings, as the gateway
//! wants them.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

/// How to reach etcd: endpoints (`host:port`), TLS files and credentials.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub endpoints: Vec<String>,
    /// TLS: the CA that signed etcd's certificate (https:// when set).
    pub ca_file: Option<std::path::PathBuf>,
    /// TLS client certificate and key, for etcd's --client-cert-auth.
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    /// etcd user and password (etcd's auth).
    pub user: Option<(String, String)>,
}

/// One key and its value, both as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
}

/// A connected client. Endpoints are tried in order; the one that answered last is
/// tried first.
pub struct Client {
    agent: ureq::Agent,
    /// `http`, or `https` with a CA file.
    scheme: &'static str,
    endpoints: Vec<String>,
    preferred: std::cell::Cell<usize>,
    user: Option<(String, String)>,
    token: std::cell::RefCell<Option<String>>,
}

/// The first key after every key that starts with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(field: &str, text: &str) -> Result<Vec<u8>> {
    B64.decode(text)
        .map_err(|e| anyhow!("etcd sent a {field} that is not base64 ({e})"))
}

/// A 64-bit number as the gateway writes it: a string (or, rarely, a number).
fn number(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The certificates in a PEM file's text (other items skipped).
fn certificates(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Self> {
        if conn.endpoints.is_empty() {
            bail!("no etcd endpoint given");
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(Duration::from_secs(10)))
            .user_agent(concat!("modproxy/", env!("CARGO_PKG_VERSION")));
        let scheme = if let Some(ca) = &conn.ca_file {
            use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};
            let pem = read_pem(ca, "CA file (--etcd-cacert)")?;
            let roots = certificates(&pem);
            if roots.is_empty() {
                bail!(
                    "the CA file {} holds no PEM certificate; give etcd's CA certificate (--etcd-cacert)",
                    ca.display()
                );
            }
            let mut tls = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(roots)));
            if let Some(cert) = &conn.cert_file {
                let key = conn.key_file.as_ref().ok_or_else(|| {
                    anyhow!("--etcd-cert needs --etcd-key, the certificate's private key")
                })?;
                let chain_pem = read_pem(cert, "client certificate (--etcd-cert)")?;
                let chain = certificates(&chain_pem);
                if chain.is_empty() {
                    bail!(
                        "the client certificate {} holds no PEM certificate",
                        cert.display()
                    );
                }
                let key_pem = read_pem(key, "client key (--etcd-key)")?;
                let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
                    anyhow!(
                        "the client key {} is not a PEM private key ({e})",
                        key.display()
                    )
                })?;
                tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
            config = config.tls_config(tls.build());
            "https"
        } else {
            "http"
        };
        Ok(Client {
            agent: config.build().into(),
            scheme,
            endpoints: conn.endpoints.clone(),
            preferred: std::cell::Cell::new(0),
            user: conn.user.clone(),
            token: std::cell::RefCell::new(None),
        })
    }

    /// The endpoints in the order to try them.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let first = self.preferred.get();
        let n = self.endpoints.len();
        (0..n).map(move |i| (first + i) % n)
    }

    /// POSTs `body` to `path` on the first endpoint that answers; returns the HTTP status
    /// and the body reader's owner.
    fn post_raw(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut last = None;
        let tries = self.endpoints.len();
        for (n, i) in self.order().enumerate() {
            let url = format!("{}://{}{path}", self.scheme, self.endpoints[i]);
            let mut req = self.agent.post(&url);
            if let Some(t) = timeout {
                req = req.config().timeout_global(Some(t)).build();
            }
            if let Some(token) = self.token.borrow().as_ref() {
                req = req.header("Authorization", token);
            }
            match req.send_json(body) {
                // A node that answers 5xx (no leader, no quorum): the next one may serve.
                Ok(resp) if resp.status().is_server_error() && n + 1 < tries => {
                    last = Some(anyhow!("{}: answered {}", self.endpoints[i], resp.status()));
                }
                Ok(resp) => {
                    self.preferred.set(i);
                    return Ok(resp);
                }
                Err(e) => last = Some(anyhow!("{}: {e}", self.endpoints[i])),
            }
        }
        let hint = if self.scheme == "http" {
            " (if etcd serves TLS, give --etcd-cacert)"
        } else {
            ""
        };
        Err(last
            .unwrap_or_else(|| anyhow!("no endpoint"))
            .context(format!(
                "etcd is unreachable at {}{hint}",
                self.endpoints.join(",")
            )))
    }

    /// POSTs and reads a JSON answer, authenticating first when a user is set (and again
    /// when etcd says the token expired).
    fn call(&self, path: &str, body: Value) -> Result<Value> {
        for attempt in 0..2 {
            self.log_in()?;
            let resp = self.post_raw(path, &body, None)?;
            let status = resp.status().as_u16();
            let text = resp
                .into_body()
                .with_config()
                .limit(256 * 1024 * 1024)
                .read_to_string()
                .with_context(|| format!("cannot read etcd's answer to {path}"))?;
            let answer: Value = serde_json::from_str(&text).map_err(|_| {
                let hint = if text.contains("HTTPS") {
                    "; this endpoint speaks TLS: give --etcd-cacert (and --etcd-cert/--etcd-key if it asks for a client certificate)"
                } else {
                    "; is this an etcd v3 client URL (port 2379 by default)?"
                };
                anyhow!(
                    "{} answered {status} to {path} with something that is not etcd's JSON: {:?}{hint}",
                    self.endpoints[self.preferred.get()],
                    text.chars().take(120).collect::<String>()
                )
            })?;
            if status == 200 {
                return Ok(answer);
            }
            let message = answer["message"]
                .as_str()
                .or(answer["error"].as_str())
                .unwrap_or("")
                .to_owned();
            if attempt == 0 && self.user.is_some() && message.contains("token") {
                self.token.replace(None);
                continue;
            }
            return Err(error(status, &message));
        }
        unreachable!("the loop returns")
    }

    /// Gets a token when a user is set and there is none (first call, or etcd said the
    /// last one expired).
    fn log_in(&self) -> Result<()> {
        let Some((name, password)) = &self.user else {
            return Ok(());
        };
        if self.token.borrow().is_some() {
            return Ok(());
        }
        let resp = self.post_raw(
            "/v3/auth/authenticate",
            &json!({"name": name, "password": password}),
            None,
        )?;
        let status = resp.status().as_u16();
        let answer: Value = resp.into_body().read_json().unwrap_or(Value::Null);
        let token = answer["token"].as_str().filter(|_| status == 200);
        match token {
            Some(t) => {
                self.token.replace(Some(t.to_owned()));
                Ok(())
            }
            None => bail!(
                "etcd refused user {name:?}: {}; check --etcd-user and the password (MODPROXY_ETCD_PASSWORD or --etcd-password-file)",
                answer["message"]
                    .as_str()
                    .unwrap_or("no token in its answer")
            ),
        }
    }

    /// Every key under `prefix`, in key order, with the store's revision.
    pub fn list(&self, prefix: &str) -> Result<(Vec<Entry>, i64)> {
        let answer = self.call(
            "/v3/kv/range",
            json!({"key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix))}),
        )?;
        let revision = number(&answer["header"]["revision"]);
        let mut entries = Vec::new();
        for kv in answer["kvs"].as_array().into_iter().flatten() {
            let key = unb64("key", kv["key"].as_str().unwrap_or(""))?;
            let value = unb64("value", kv["value"].as_str().unwrap_or(""))?;
            entries.push(Entry {
                key: String::from_utf8_lossy(&key).into_owned(),
                value,
            });
        }
        Ok((entries, revision))
    }

    /// The value at `key`, if there is one.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let answer = self.call("/v3/kv/range", json!({"key": b64(key.as_bytes())}))?;
        match answer["kvs"].as_array().and_then(|kvs| kvs.first()) {
            Some(kv) => Ok(Some(unb64("value", kv["value"].as_str().unwrap_or(""))?)),
            None => Ok(None),
        }
    }

    /// Stores `value` at `key`, tied to `lease` when given.
    pub fn put(&self, key: &str, value: &[u8], lease: Option<i64>) -> Result<()> {
        let mut body = json!({"key": b64(key.as_bytes()), "value": b64(value)});
        if let Some(id) = lease {
            body["lease"] = json!(id.to_string());
        }
        self.call("/v3/kv/put", body).map(|_| ())
    }

    /// Deletes `key`; returns whether it was there.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let answer = self.call("/v3/kv/deleterange", json!({"key": b64(key.as_bytes())}))?;
        Ok(number(&answer["deleted"]) > 0)
    }

    /// A new lease of `ttl` seconds; returns its id.
    pub fn grant(&self, ttl: u32) -> Result<i64> {
        let answer = self.call("/v3/lease/grant", json!({"TTL": ttl.to_string()}))?;
        match number(&answer["ID"]) {
            0 => bail!("etcd granted no lease: {answer}"),
            id => Ok(id),
        }
    }

    /// Renews a lease; returns the seconds it has left, 0 when it is gone.
    pub fn keep_alive(&self, lease: i64) -> Result<i64> {
        let answer = self.call("/v3/lease/keepalive", json!({"ID": lease.to_string()}))?;
        Ok(number(&answer["result"]["TTL"]))
    }

    /// Waits up to `wait` for a change under `prefix` after `revision`. Returns true
    /// when something changed (or the history is gone, so the caller must read again),
    /// false when the wait ended quietly.
    pub fn wait_for_change(&self, prefix: &str, revision: i64, wait: Duration) -> Result<bool> {
        self.log_in()?;
        let body = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": (revision + 1).to_string(),
        }});
        let resp = self.post_raw("/v3/watch", &body, Some(wait))?;
        if resp.status().as_u16() != 200 {
            let status = resp.status().as_u16();
            let answer: Value = resp.into_body().read_json().unwrap_or(Value::Null);
            self.token.replace(None);
            return Err(error(status, answer["message"].as_str().unwrap_or("")));
        }
        let reader = resp.into_body().into_reader();
        #[derive(Deserialize)]
        struct Message {
            #[serde(default)]
            result: Value,
            #[serde(default)]
            error: Value,
        }
        let stream = serde_json::Deserializer::from_reader(reader.take(64 * 1024 * 1024))
            .into_iter::<Message>();
        for message in stream {
            let message = match message {
                Ok(m) => m,
                // The wait ended (timeout) or etcd went away: the caller reads again.
                Err(_) => return Ok(false),
            };
            if !message.error.is_null() {
                self.token.replace(None);
                bail!("etcd ended the watch: {}", message.error);
            }
            let r = &message.result;
            if r["events"].as_array().is_some_and(|e| !e.is_empty())
                || r["canceled"].as_bool() == Some(true)
                || number(&r["compact_revision"]) > 0
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// etcd's error answer, with a hint for the usual causes.
fn error(status: u16, message: &str) -> anyhow::Error {
    let hint = if message.contains("permission denied") {
        "; give a user with read/write on the prefix (--etcd-user)"
    } else if message.contains("user name is empty") || message.contains("token") {
        "; etcd has auth enabled: give --etcd-user and the password"
    } else {
        ""
    };
    anyhow!("etcd answered {status}: {message}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end("/modproxy/"), b"/modproxy0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
