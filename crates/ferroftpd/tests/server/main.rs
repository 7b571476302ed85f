//! Integration tests: a real server on 127.0.0.1:0, raw command bytes,
//! exact replies.

mod common;

mod confinement;
mod files;
mod lifecycle;
mod login;
mod malformed;
mod transfers;
