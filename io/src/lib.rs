//! partita's sources and sinks.
//!
//! Every sink writes through [`write_atomic`], so a failed write never leaves a half file. The
//! text, CSV, Parquet, Arrow IPC and HDF5 sources and sinks build on it.

mod atomic;
mod error;

pub use self::atomic::write_atomic;
pub use self::error::{Error, Result};
