//! Writing a file so that it is either complete or absent.
//!
//! Every sink writes each output file to a hidden temporary name in the destination folder, syncs
//! it, and renames it into place only once the whole content is written. A failure (an error, a
//! panic, a killed process) leaves no half-written file under the final name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` through `write`, atomically: the file appears complete or not at all. A
/// leftover temporary from an earlier failure is overwritten.
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("partita-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("part-0.txt");
/// partita_io::write_atomic(&path, |w| writeln!(w, "hello"))?;
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
/// let failed = partita_io::write_atomic(dir.join("part-1.txt"), |w| {
///     writeln!(w, "half")?;
///     Err(std::io::Error::other("disk full"))
/// });
/// assert!(failed.is_err());
/// assert!(!dir.join("part-1.txt").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming the file, for an error from `write` or from the file system. The
/// temporary file is removed.
pub fn write_atomic(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let tmp = temporary_name(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// `dir/.name.partial`, beside the final file so the rename stays on one file system.
pub(crate) fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod test {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_panicking_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let outcome = std::panic::catch_unwind(|| {
            write_atomic(&path, |w| {
                w.write_all(b"partial")?;
                panic!("writer died");
            })
        });
        assert!(outcome.is_err());
        assert!(!path.exists());
    }

    #[test]
    fn replaces_an_existing_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old content that is longer").unwrap();
        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("out.txt");
        let err = write_atomic(&path, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("out.txt"), "{err}");
    }
}
