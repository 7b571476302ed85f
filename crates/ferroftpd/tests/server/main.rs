//! Integration tests: a real server on 127.0.0.1:0, raw command bytes,
//! exact replies.
// Test support code panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod admin;
mod confinement;
mod extend;
mod files;
mod hooks;
mod ipv6;
mod lifecycle;
mod limits;
mod listing_rules;
mod login;
mod malformed;
mod permissions;
mod quotas_and_folders;
mod reconfigure;
mod session_options;
mod shared_limits;
mod storage;
mod streams;
mod tls;
mod transfers;
mod uploads;
