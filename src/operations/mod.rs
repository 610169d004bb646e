//! Business actions, below HTTP: each takes `&mut PgConnection`, runs in one blocking hop
//! and one transaction (its audit row included), and knows nothing of requests or pages.
//! Routes extract and check input, call one of these inside `Db::run`, and render.
//!
//! The rule, checkable by grep: every write a route causes goes through a function here
//! (no `transaction(` under `web/routes`, no route touching the store); reads may call
//! models directly.
//!
//! Refusals follow one convention everywhere below the routes: the outer `Result` is a
//! failure (the database, a bug: `AppError` or `QueryResult`), and a refusal the user can
//! act on is either an `AppError` variant that renders as such (`BadRequest`,
//! `PaymentRequired`, `TooManyRequests`…) or, where the caller shows it beside a form
//! field, an inner `Result` whose error names the field (`UniqueFieldTaken`, `Refusal`,
//! `ImageProblem`).

pub mod access;
pub mod accounts;
pub mod admin;
pub mod bulk;
pub mod folders;
pub mod generation;
pub mod images;
pub mod letters;
pub mod login;
pub mod pages;
pub mod second_factor;
pub mod tagging;
pub mod trash;
pub mod uploads;
