//! What every layer stands on and that imports nothing of Atelier's: the typed settings,
//! the one error type of the request path, and the process's metrics registry.

pub mod config;
pub mod error;
pub mod metrics;
