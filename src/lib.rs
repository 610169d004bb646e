//! Atelier: a self-hosted, multi-user AI image studio. The binary (`main.rs`) and the
//! black-box tests share everything through this library.
//!
//! The layers, top down (each imports only those below it): `main.rs` → `cli` (commands)
//! → `web` (startup, middleware, extractors, routes, views, sessions)
//! → `operations` (every write) → `services` (library, generate, quota) → `db` (pool,
//! embedded cluster, schema, models) → `storage` → `domain` (validated values) and `base`
//! (settings, the error type, metrics).

// A panic in a request path is a context-free 500: handle the error instead.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod base;
pub mod cli;
pub mod db;
pub mod domain;
pub mod operations;
pub mod services;
pub mod storage;
pub mod web;
