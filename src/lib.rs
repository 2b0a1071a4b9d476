//! modproxy: per-host Apache fragments (`generate`) merged into one load-balancing config
//! (`merge`), checked against the installed httpd (`check`).

pub mod apache;
pub mod app_config;
pub mod cli;
pub mod commands;
pub mod detect;
pub mod fragment;
pub mod input;
pub mod merge;
pub mod model;
pub mod output;
pub mod render;
pub mod robustness;
