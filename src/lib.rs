//! Atelier: a self-hosted, multi-user AI image studio. The binary (`main.rs`) and the
//! black-box tests share everything through this library.
//!
//! The layers, top down (each imports only those below it): `cli` (commands) → `web`
//! (startup, middleware, extractors, routes, views, sessions) → `operations` (every
//! write) → `library`, `generate`, `quota` (services) → `db` (pool, embedded cluster,
//! schema, models) → `storage` → `domain`, with `config`, `error` and `metrics` beside.

// A panic in a request path is a context-free 500: handle the error instead.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod generate;
pub mod library;
pub mod metrics;
pub mod operations;
pub mod quota;
pub mod storage;
pub mod web;
