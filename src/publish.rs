//! The app host's side of the registry: `generate --publish` (once, or with `--ttl` and
//! `--keep` for as long as the host runs) and `withdraw`.

use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::cli::{EtcdArgs, WithdrawArgs};
use crate::model::Member;
use crate::registry::{Registry, RegistryUrl};

/// Stores `text` (the fragment of `member`) in the registry; with `ttl`, on a lease,
/// renewed for as long as this runs when `keep`.
pub fn publish(
    url: &RegistryUrl,
    creds: &EtcdArgs,
    member: &Member,
    text: &str,
    ttl: Option<u32>,
    keep: bool,
) -> Result<()> {
    let registry = Registry::open(url, creds)?;
    let mut lease = match ttl {
        Some(t) => Some(registry.grant(t)?),
        None => None,
    };
    let key = registry.publish(member, text, lease)?;
    let how = match (ttl, keep) {
        (None, _) => "; it stays until `modproxy withdraw`".to_owned(),
        (Some(t), false) => format!("; it expires in {t} s unless renewed (--keep)"),
        (Some(t), true) => format!("; renewing its {t} s lease while this runs"),
    };
    eprintln!("published {key} to {url}{how}");
    let Some(ttl) = ttl.filter(|_| keep) else {
        return Ok(());
    };
    let period = Duration::from_secs(u64::from(ttl / 3).max(1));
    let mut failing = false;
    loop {
        std::thread::sleep(period);
        match renew(&registry, &mut lease, ttl, member, text) {
            Ok(republished) => {
                if republished {
                    eprintln!("published {key} again (its lease or its key was gone)");
                } else if failing {
                    eprintln!("renewed the lease of {key} again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    eprintln!(
                        "error: cannot renew {key}: {e:#}; retrying every {} s (proxies drop it {ttl} s after the last renewal)",
                        period.as_secs()
                    );
                }
                failing = true;
            }
        }
    }
}

/// Renews the lease, or when etcd no longer has it, takes a new one; publishes again
/// when the lease was new or the key no longer holds the fragment (deleted or wiped by
/// hand, a restored backup). Returns whether it published again.
fn renew(
    registry: &Registry,
    lease: &mut Option<i64>,
    ttl: u32,
    member: &Member,
    text: &str,
) -> Result<bool> {
    if let Some(id) = *lease {
        if registry.keep_alive(id)? > 0 {
            if registry.holds(member, text)? {
                return Ok(false);
            }
            registry.publish(member, text, Some(id))?;
            return Ok(true);
        }
        *lease = None;
    }
    let id = registry.grant(ttl)?;
    registry.publish(member, text, Some(id))?;
    *lease = Some(id);
    Ok(true)
}

/// `modproxy withdraw`: removes one host's fragment.
pub fn withdraw(args: WithdrawArgs) -> Result<()> {
    let registry = Registry::open(&args.url, &args.etcd)?;
    let (key, found) = registry.withdraw(&args.name, &args.route)?;
    if !found {
        return Err(anyhow!(
            "{key} is not in the registry {}: nothing to withdraw; check --name and --route (`modproxy merge --from {} --format json` lists what is there)",
            args.url,
            args.url
        ));
    }
    eprintln!("withdrew {key} from {}", args.url);
    Ok(())
}
