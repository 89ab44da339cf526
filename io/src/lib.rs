//! partita's sources and sinks.
//!
//! Text files ([`read_text`], [`to_textfiles`]), CSV ([`read_csv`], [`to_csv`]) and Parquet
//! ([`read_parquet`], [`to_parquet`]), Arrow IPC ([`read_ipc`], [`to_ipc`]) and HDF5 datasets as
//! arrays ([`read_hdf5`], [`store_hdf5`], [`to_hdf5`]). Every sink writes to a temporary name and
//! renames the file into place when complete (see [`write_atomic`]), so a failed write never
//! leaves a half file. A write of many files commits the folder with a [`SUCCESS`] marker
//! listing them, written last; [`Source::committed`] reads a committed folder and refuses one
//! whose write did not finish.

mod atomic;
mod commit;
mod csv;
mod error;
mod hdf5;
mod ipc;
mod parquet;
mod partitioned;
mod paths;
mod rolling;
mod text;

pub use self::atomic::write_atomic;
pub use self::commit::SUCCESS;
pub use self::csv::{read_csv, to_csv, CsvOptions, SkippedRows};
pub use self::error::{Cause, Error, Result};
pub use self::hdf5::{
    check_hdf5_child, check_hdf5_isolated, read_hdf5, read_hdf5_as, store_hdf5, to_hdf5,
    to_hdf5_dyn, Hdf5Element, Hdf5Write,
};
pub use self::ipc::{read_ipc, to_ipc};
pub use self::parquet::{read_parquet, to_parquet, ParquetOptions};
pub use self::paths::Source;
pub use self::rolling::{to_rolling_csv, to_rolling_parquet, to_rolling_textfiles, Roll};
pub use self::text::{read_text, read_text_with, to_textfiles, Compression, TextOptions};
