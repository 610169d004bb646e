//! Black-box tests: the real server over HTTP against real PostgreSQL. One binary, a module
//! per feature; see `helpers.rs` for the harness.

mod accounts;
mod browser;
mod embedded;
mod health;
mod helpers;
mod migrations;
mod security;
mod sessions;
mod throttling;
mod webdriver;
