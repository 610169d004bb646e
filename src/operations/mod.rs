//! Business actions, below HTTP: each takes `&mut PgConnection`, runs in one blocking hop
//! and one transaction (its audit row included), and knows nothing of requests or pages.
//! Routes extract and check input, call one of these inside `Db::run`, and render.

pub mod admin;
pub mod generation;
