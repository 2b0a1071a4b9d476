//! Fuzzes the modproxy.json reader (`generate`'s input) and everything after it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| modproxy::robustness::app_config_bytes(data, false));
