//! The build id: which executable a process runs.
//!
//! Operators and user functions are found by name in the far side's own copy of the code, so
//! both sides must run the same executable. Each process hashes its executable once (xxh3, 128
//! bits) and every shipped graph carries the sender's id; a receiver with another id refuses it.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The 128-bit hash of an executable's bytes.
///
/// ```
/// let id = partita_runtime::BuildId::current()?;
/// assert_eq!(id, partita_runtime::BuildId::current()?);
/// assert_eq!(id.to_string().len(), 32);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BuildId(pub [u8; 16]);

impl BuildId {
    /// The id of the running executable, computed on first use.
    ///
    /// # Errors
    /// [`Error::Io`] if the executable cannot be read.
    pub fn current() -> Result<BuildId> {
        static CURRENT: OnceLock<std::result::Result<BuildId, Error>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let path =
                    std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
                BuildId::of_file(&path)
            })
            .clone()
    }

    /// The id of the executable at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path if it cannot be read.
    pub fn of_file(path: &std::path::Path) -> Result<BuildId> {
        use std::io::Read;
        let io = |e| Error::io(path.display().to_string(), e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut hasher = twox_hash::XxHash3_128::new();
        let mut buf = vec![0_u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.write(&buf[..n]);
        }
        Ok(BuildId(hasher.finish_128().to_le_bytes()))
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildId({self})")
    }
}
