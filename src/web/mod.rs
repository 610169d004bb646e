//! The HTTP layer: the server's startup, the state handlers share, middleware, the
//! extractors (who is asking, and every field they send), sessions and password hashing,
//! the routes, and the views pages are rendered with. Below it, `operations` does every
//! write; nothing below imports this.

pub mod auth;
pub mod extract;
pub mod middleware;
pub mod routes;
pub mod startup;
pub mod state;
pub mod views;
