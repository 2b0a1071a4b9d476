//! Host name and address detection: the only module that asks the operating system who
//! this machine is.

use std::net::{IpAddr, ToSocketAddrs};

use anyhow::{Context, Result, anyhow};

use crate::model::{Host, Route};

/// Where a fragment's member lives and what route it gets, plus a note for stderr when
/// the answer is not simply the host name.
#[derive(Debug)]
pub struct Identity {
    pub host: Host,
    pub route: Route,
    pub note: Option<String>,
}

/// Host: `host` if given; else this machine's name if it resolves to a non-loopback
/// address; else this machine's primary non-loopback IP (with a note). Route: `route` if
/// given, else derived from the host name (first label).
pub fn identity(host: Option<Host>, route: Option<Route>) -> Result<Identity> {
    if let Some(host) = host {
        let route = match route {
            Some(r) => r,
            None => Route::from_host(host.as_str())
                .with_context(|| format!("cannot make a route from host {host}; pass --route"))?,
        };
        return Ok(Identity {
            host,
            route,
            note: None,
        });
    }

    let machine = hostname::get()
        .ok()
        .and_then(|n| n.into_string().ok())
        .and_then(|n| Host::new(&n).ok());
    let route = match (route, &machine) {
        (Some(r), _) => r,
        (None, Some(name)) => Route::from_host(name.as_str()).with_context(|| {
            format!("cannot make a route from this machine's name {name}; pass --route")
        })?,
        (None, None) => {
            let ip = primary_ip()?;
            Route::from_host(&ip.to_string())?
        }
    };
    if let Some(name) = machine.as_ref().filter(|n| resolves_off_loopback(n)) {
        return Ok(Identity {
            host: name.clone(),
            route,
            note: None,
        });
    }
    let ip = primary_ip()?;
    let host = Host::new(&ip.to_string()).expect("an IP address is a valid host");
    let why = match &machine {
        Some(name) => format!("this machine's name {name} resolves only to loopback or not at all"),
        None => "this machine's name cannot be read or is not a DNS name".to_owned(),
    };
    Ok(Identity {
        note: Some(format!(
            "note: {why}; using its address {ip} as the host (pass --host or set \"host\" to choose)"
        )),
        host,
        route,
    })
}

fn resolves_off_loopback(name: &Host) -> bool {
    if name.is_loopback() {
        return false;
    }
    (name.as_str(), 0)
        .to_socket_addrs()
        .map(|mut addrs| addrs.any(|a| !a.ip().is_loopback() && !a.ip().is_unspecified()))
        .unwrap_or(false)
}

fn primary_ip() -> Result<IpAddr> {
    local_ip_address::local_ip()
        .or_else(|_| local_ip_address::local_ipv6())
        .ok()
        .filter(|ip| !ip.is_loopback())
        .ok_or_else(|| {
            anyhow!(
                "cannot find this machine's network address (only loopback is up); pass --host with the name or address other machines use to reach this app"
            )
        })
}
