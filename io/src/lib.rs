//! partita's sources and sinks.
//!
//! Text files ([`read_text`], [`to_textfiles`]), CSV ([`read_csv`], [`to_csv`]) and Parquet
//! ([`read_parquet`], [`to_parquet`]) and Arrow IPC ([`read_ipc`], [`to_ipc`]). Every sink writes through
//! [`write_atomic`], so a failed write never leaves a half file.

mod atomic;
mod csv;
mod error;
mod ipc;
mod parquet;
mod partitioned;
mod paths;
mod rolling;
mod text;

pub use self::atomic::write_atomic;
pub use self::csv::{read_csv, to_csv, CsvOptions};
pub use self::error::{Error, Result};
pub use self::ipc::{read_ipc, to_ipc};
pub use self::parquet::{read_parquet, to_parquet, ParquetOptions};
pub use self::paths::Source;
pub use self::rolling::{to_rolling_csv, to_rolling_parquet, to_rolling_textfiles, Roll};
pub use self::text::{read_text, read_text_with, to_textfiles, Compression, TextOptions};
