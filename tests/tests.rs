//! The end-to-end tests, one binary with a module per area (as ripgrep's tests/tests.rs and
//! just's tests/lib.rs): support code compiles once, and `cargo test NAME` picks tests
//! from any area. Each drives the real modproxy binary; many start a real httpd.

mod support;

mod apache;
mod apply;
mod check;
mod cli;
mod errors;
mod failure_modes;
mod faults;
mod fuzz_regressions;
mod golden;
mod keepalived;
mod live_state;
mod production;
mod properties;
mod registry;
mod scale;
mod status;
