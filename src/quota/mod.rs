//! Who is asking and how much they may do: the client IP (trusted-proxy aware), the keys
//! that limits are counted under, and the charge seam generations go through.

pub mod charge;
pub mod client_ip;

pub use client_ip::{ClientIp, limit_key};
