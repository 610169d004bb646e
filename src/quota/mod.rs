//! Who is asking and how much they may do: the client IP (trusted-proxy aware) and the
//! keys that limits are counted under.

pub mod client_ip;

pub use client_ip::{ClientIp, limit_key};
