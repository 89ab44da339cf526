//! partita's sources and sinks.
//!
//! Text files ([`read_text`], [`to_textfiles`]) and CSV ([`read_csv`], [`to_csv`]). Every sink writes through
//! [`write_atomic`], so a failed write never leaves a half file.

mod atomic;
mod csv;
mod error;
mod paths;
mod text;

pub use self::atomic::write_atomic;
pub use self::csv::{read_csv, to_csv, CsvOptions};
pub use self::error::{Error, Result};
pub use self::paths::Source;
pub use self::text::{
    read_text, read_text_with, to_rolling_textfiles, to_textfiles, Compression, Roll, TextOptions,
};
