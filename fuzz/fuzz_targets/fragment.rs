//! Fuzzes the fragment reader (`merge`'s input) and everything after it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| modproxy::robustness::fragment_bytes(data));
