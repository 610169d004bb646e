//! Black-box tests: the real server over HTTP against real PostgreSQL. One binary, a module
//! per feature; see `helpers.rs` for the harness.

mod a1111;
mod accounts;
mod admin;
mod anonymous;
mod api_tokens;
mod browser;
mod comfyui;
mod contract;
mod crash;
mod embedded;
mod fake_a1111;
mod fake_comfyui;
mod fake_openai;
mod fast_paths;
mod fixtures;
mod generation;
mod hardening;
mod health;
mod helpers;
mod journeys;
mod library;
mod media_security;
mod migrations;
mod openai;
mod privacy;
mod quotas;
mod readme;
mod s3_server;
mod security;
mod sessions;
mod storage;
mod throttling;
mod uploads;
mod video;
mod webdriver;
