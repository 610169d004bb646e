//! Black-box tests: the real server over HTTP against real PostgreSQL. One binary, a module
//! per feature, named after it; `support/` holds the harness, fixtures and fakes.

mod a1111;
mod abuse_resistance;
mod access;
mod accounts;
mod admin;
mod anonymous;
mod api_tokens;
mod browser;
mod browser_gallery;
mod caches;
mod comfyui;
mod crash;
mod doctor;
mod embedded;
mod gallery_tools;
mod generation;
mod health;
mod hostile_input;
mod library;
mod media_security;
mod migrations;
mod openai;
mod openai_api;
mod privacy;
mod quotas;
mod readme;
mod script_contract;
mod security;
mod sessions;
mod storage;
mod support;
mod tagging;
mod throttling;
mod uploads;
mod video;
