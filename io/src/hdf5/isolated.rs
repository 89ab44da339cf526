//! Checking an HDF5 dataset in a child process: libhdf5 itself can crash on a corrupt file,
//! which no Rust code can turn into an error, so the check runs where a crash ends only the
//! child.
//!
//! [`check_hdf5_isolated`] starts the current executable with the file and the dataset in its
//! environment; `partita::worker_main()`, first thing in `main`, sees them
//! ([`check_hdf5_child`]), opens the dataset and reads every block of it, one at a time, and
//! exits. The parent reads the child's exit: success, an error it printed, or the signal that
//! killed it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use partita_collections::Op;
use partita_runtime::{TaskContext, TaskKey};

use super::read::{Opened, ReadBlock};
use crate::error::{Error, Result};

/// The file a child started by [`check_hdf5_isolated`] checks.
const CHECK_FILE: &str = "PARTITA_CHECK_HDF5_FILE";
/// The dataset it checks.
const CHECK_DATASET: &str = "PARTITA_CHECK_HDF5_DATASET";

/// Opens `dataset` of the HDF5 file at `path` and reads every block of it in a child process
/// of this executable, so that a crash inside the HDF5 library (which some corrupt files
/// cause, and which no error handling can catch) is an error here instead of the end of this
/// process. Use it before [`read_hdf5`](crate::read_hdf5) on files from outside that may be
/// damaged; it costs one full read of the dataset. The executable's `main` must call
/// `partita::worker_main()` first, as a cluster's workers need too.
///
/// # Errors
/// [`Error::Hdf5`] naming the file and the dataset: the error the child met, or the signal
/// that ended it, or a child that did not finish within `timeout`.
pub fn check_hdf5_isolated(path: impl AsRef<Path>, dataset: &str, timeout: Duration) -> Result<()> {
    let path = path.as_ref();
    let exe = std::env::current_exe()
        .map_err(|e| Error::hdf5_by(path, dataset, "cannot find this executable", e))?;
    let mut child = Command::new(exe)
        .env(CHECK_FILE, path)
        .env(CHECK_DATASET, dataset)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::hdf5_by(path, dataset, "cannot start the checking process", e))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::hdf5(
                    path,
                    dataset,
                    format!("the check did not finish within {timeout:?}"),
                ));
            }
            Err(e) => {
                let _ = child.kill();
                return Err(Error::hdf5_by(
                    path,
                    dataset,
                    "lost the checking process",
                    e,
                ));
            }
        }
    };
    let mut said = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut said);
    }
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let message = match (
        status.signal(),
        said.lines().rfind(|l| l.starts_with("partita: ")),
    ) {
        (Some(signal), _) => format!(
            "the HDF5 library crashed reading it (signal {signal}) in the checking process: \
             the file is corrupt"
        ),
        (None, Some(line)) => line.trim_start_matches("partita: ").to_string(),
        (None, None) => format!("the checking process failed ({status})"),
    };
    Err(Error::hdf5(path, dataset, message))
}

/// In a child that [`check_hdf5_isolated`] started: checks the dataset and exits (0 when it
/// reads, 1 after printing the error). Anywhere else it returns at once.
/// `partita::worker_main()` calls it.
pub fn check_hdf5_child() {
    let (Some(path), Ok(dataset)) = (std::env::var_os(CHECK_FILE), std::env::var(CHECK_DATASET))
    else {
        return;
    };
    let code = match check(&PathBuf::from(path), &dataset) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("partita: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Reads every block of the dataset, one at a time, and drops it.
fn check(path: &Path, dataset: &str) -> Result<()> {
    let opened = std::sync::Arc::new(Opened::open(path, dataset)?);
    let chunks = opened.chunks(None)?;
    let key = TaskKey::new("check-hdf5", 0);
    for ranges in super::block_ranges(&chunks) {
        let block = ReadBlock::of(&opened, ranges);
        let kernel = block
            .kernel(TaskContext {
                key: &key,
                deps: &[],
            })
            .map_err(|e| Error::hdf5(path, dataset, e))?;
        kernel(Vec::new()).map_err(|e| Error::hdf5(path, dataset, e))?;
    }
    Ok(())
}
