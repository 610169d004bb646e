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
mod doctor;
mod embedded;
// The fakes are other projects' servers, not Atelier: actix's own extractors are fine there.
#[allow(clippy::disallowed_types)]
mod fake_a1111;
#[allow(clippy::disallowed_types)]
mod fake_comfyui;
#[allow(clippy::disallowed_types)]
mod fake_openai;
mod fast_paths;
mod fixtures;
mod gallery_tools;
mod generation;
mod hardening;
mod health;
mod helpers;
mod hostile_input;
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
