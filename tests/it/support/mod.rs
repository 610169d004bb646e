//! What the tests stand on: the harness (`helpers`: a cluster per process, a database and
//! a real server per test, typed actions), pictures to upload (`fixtures`), a real S3
//! server (`s3_server`), Chromium through WebDriver (`webdriver`), and local servers that
//! speak the providers' protocols (`fake_*`), built from those projects' API docs.

// The fakes are other projects' servers, not Atelier: actix's own extractors are fine there.
#[allow(clippy::disallowed_types)]
pub mod fake_a1111;
#[allow(clippy::disallowed_types)]
pub mod fake_comfyui;
#[allow(clippy::disallowed_types)]
pub mod fake_openai;
#[allow(clippy::disallowed_types)]
pub mod fake_vision;
pub mod fixtures;
pub mod helpers;
pub mod s3_server;
pub mod smtp_server;
pub mod visitor;
pub mod webdriver;
