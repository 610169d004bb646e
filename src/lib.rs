//! Atelier: a self-hosted, multi-user AI image studio. The binary (`main.rs`) and the
//! black-box tests share everything through this library.

// A panic in a request path is a context-free 500: handle the error instead.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod extract;
pub mod generate;
pub mod library;
pub mod media_cache;
pub mod metrics;
pub mod middleware;
pub mod models;
pub mod operations;
pub mod pg_embedded;
pub mod privacy;
pub mod quota;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;
pub mod storage;
pub mod storage_migration;
pub mod summary_cache;
pub mod tokens;
pub mod views;
