//! polyhunter's hot path as plain Rust.
//!
//! Every domain module here is free of PyO3; the Python skin lives in [`python`] and only converts
//! types and errors. A reader can learn the hot path without knowing PyO3.

pub mod error;
pub mod hash;

// Log decoding, dedup, shards, fan-out, caches (issue 3, items 1-5).
pub mod cache;
pub mod dedup;
pub mod fanout;
pub mod logs;
pub mod shard;
pub mod signal;
// Pending `matchOrders` calls and the activity feed's frames (issue 13).
pub mod calldata;
pub mod feed;
// Signing and the fleet (issue 3, items 6-7).
pub mod eip712;
pub mod fleet;
pub mod orders;
pub mod poly1271;
pub mod signer;
pub mod tx;

#[cfg(feature = "python")]
pub mod python;

pub use error::CoreError;

/// The crate's version, which the Python package reports as its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
