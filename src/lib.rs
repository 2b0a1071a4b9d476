//! modproxy: per-host Apache fragments (`generate`) merged into one load-balancing config
//! (`merge`), checked against the installed httpd (`check`), kept in etcd (`registry`) and
//! followed by every proxy (`watch`).
//!
//! The binary is the product. The library exports what the binary (`cli`, `commands`,
//! `apply`, `publish`, `watch`), the end-to-end tests and benchmarks (`httpd`, `records`)
//! and the fuzzers (`robustness`) use.

mod app_config;
pub mod apply;
pub mod cli;
mod cluster;
pub mod commands;
mod detect;
mod directives;
mod etcd;
pub mod httpd;
mod input;
mod model;
mod output;
pub mod publish;
pub mod records;
mod registry;
mod render;
#[doc(hidden)]
pub mod robustness;
mod settings;
mod states;
pub mod watch;
