//! modproxy: per-host Apache fragments (`generate`) merged into one load-balancing config
//! (`merge`), checked against the installed httpd (`check`).
//!
//! The binary is the product. The library exports what the binary (`cli`, `commands`,
//! `apply`), the
//! end-to-end tests and benchmarks (`httpd`, `records`) and the fuzzers (`robustness`) use.

mod app_config;
pub mod apply;
pub mod cli;
mod cluster;
pub mod commands;
mod detect;
mod directives;
pub mod httpd;
mod input;
mod model;
mod output;
pub mod records;
mod render;
#[doc(hidden)]
pub mod robustness;
mod settings;
mod states;
