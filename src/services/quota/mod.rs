//! Who is asking and how much they may do: the client IP (trusted-proxy aware), the keys
//! limits are counted under, rolling anonymous limits, credits and their ledger, free
//! images per network, blocks and overrides, each account's storage quota and upload rate,
//! and the charge seam every generation goes through.

pub mod blocks;
pub mod charge;
pub mod client_ip;
pub mod credits;
pub mod free;
pub mod limits;
pub mod policy;
pub mod storage;

pub use client_ip::{ClientIp, limit_key};
