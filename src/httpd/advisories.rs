//! What `check` knows about the httpd it runs: its version, the published vulnerabilities
//! of the modules a modproxy config uses that an older release still has
//! (`data/httpd-cves.tsv`, embedded at build time), and the oldest release a file needs.

use std::fmt;

/// An httpd release, `2.4.71`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// From `2.4.71`, or the first such number in text like `Apache/2.4.71 (Debian)`.
    pub fn find_in(text: &str) -> Option<Self> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find_map(|word| {
                let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
                let v = Version(parts.next()??, parts.next()??, parts.next()??);
                parts.next().is_none().then_some(v)
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One published vulnerability and the release that fixed it.
#[derive(Debug)]
pub struct Advisory {
    pub cve: &'static str,
    pub fixed_in: Version,
    pub module: &'static str,
    pub summary: &'static str,
}

const TABLE: &str = include_str!("../../data/httpd-cves.tsv");

/// Every row of the table (its header and `#` comments apart).
pub fn all() -> Vec<Advisory> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("cve\t") && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&'static str> = l.split('\t').collect();
            Advisory {
                cve: cols[0],
                fixed_in: Version::find_in(cols[1])
                    .expect("data/httpd-cves.tsv: a fixed_in version"),
                module: cols.get(2).copied().unwrap_or(""),
                summary: cols.get(3).copied().unwrap_or(""),
            }
        })
        .collect()
}

/// The advisories an httpd of `version` is older than the fix of.
pub fn open_in(version: Version) -> Vec<Advisory> {
    all().into_iter().filter(|a| version < a.fixed_in).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_and_ordered() {
        assert_eq!(
            Version::find_in("Server version: Apache/2.4.71 (Debian)"),
            Some(Version(2, 4, 71))
        );
        assert_eq!(
            Version::find_in("2.4.47 or later (upgrade=websocket)"),
            Some(Version(2, 4, 47))
        );
        assert!(Version(2, 4, 9) < Version(2, 4, 10));
        assert_eq!(Version::find_in("no version"), None);
    }

    #[test]
    fn an_old_httpd_has_the_advisories_fixed_after_it() {
        let table = all();
        assert!(table.len() >= 8, "the table reads");
        let open: Vec<&str> = open_in(Version(2, 4, 53)).iter().map(|a| a.cve).collect();
        assert!(open.contains(&"CVE-2022-31813") && open.contains(&"CVE-2024-38473"));
        assert!(!open.contains(&"CVE-2021-40438"), "fixed in 2.4.49");
        assert!(open_in(Version(2, 4, 60)).is_empty());
    }
}
