//! Committing a multi-file write: a `_SUCCESS` marker, written last, lists the files of a
//! finished write, as Spark's and Hadoop's writers mark theirs.
//!
//! A write of many files (`to_csv`, `to_parquet`, `to_ipc`, `to_textfiles`) first removes the
//! folder's marker and any temporary file an earlier, killed write of the same format left, then
//! writes its parts (each atomically, see [`write_atomic`](crate::write_atomic)), and writes the
//! marker only when every part is in place. A reader given [`Source::committed`] reads exactly
//! the files the marker lists, and refuses a folder without one: its write never finished.
//! Globs never match temporary files or the marker.

use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// The marker's file name.
pub const SUCCESS: &str = "_SUCCESS";

/// Whether a file name is one that a write uses on the way: a temporary file or the marker.
/// Globs skip these.
pub(crate) fn is_bookkeeping(name: &str) -> bool {
    name == SUCCESS || is_temporary(name)
}

/// Whether a file name is a temporary file of [`write_atomic`](crate::write_atomic).
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".partial")
}

/// Prepares `dir` for a write of parts named `part-*.{ext}`: creates it, removes its marker
/// (the folder is not committed until this write finishes) and the temporary files an earlier
/// write of such parts left.
pub(crate) fn begin(dir: &Path, ext: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let marker = dir.join(SUCCESS);
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&marker, e)),
        _ => {}
    }
    let suffix = format!(".{ext}.partial");
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".part-") && name.ends_with(&suffix) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Commits a finished write: writes `dir/_SUCCESS` listing `files` (their names, one a line).
pub(crate) fn finish(dir: &Path, files: &[PathBuf]) -> Result<()> {
    write_atomic(dir.join(SUCCESS), |w| {
        use std::io::Write;
        for f in files {
            let name = f.file_name().unwrap_or(f.as_os_str());
            writeln!(w, "{}", name.to_string_lossy())?;
        }
        Ok(())
    })
}

/// The files a committed write in `dir` made, in its order, each checked to exist.
pub(crate) fn committed_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let marker = dir.join(SUCCESS);
    let text = std::fs::read_to_string(&marker).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Uncommitted {
            dir: dir.to_path_buf(),
        },
        _ => Error::io(&marker, e),
    })?;
    let files: Vec<PathBuf> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|name| dir.join(name))
        .collect();
    for f in &files {
        std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
    }
    Ok(files)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_folder_is_committed_only_after_its_write_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join(".part-00003.csv.partial"), "stale").unwrap();
        std::fs::write(d.join(".part-00003.txt.partial"), "another format's").unwrap();
        std::fs::write(d.join(SUCCESS), "part-00009.csv\n").unwrap();
        begin(d, "csv").unwrap();
        assert!(!d.join(".part-00003.csv.partial").exists());
        assert!(d.join(".part-00003.txt.partial").exists());
        assert!(matches!(
            committed_files(d),
            Err(Error::Uncommitted { dir }) if dir == d
        ));
        let parts = vec![d.join("part-00000.csv"), d.join("part-00001.csv")];
        for p in &parts {
            std::fs::write(p, "a\n1\n").unwrap();
        }
        finish(d, &parts).unwrap();
        assert_eq!(committed_files(d).unwrap(), parts);
        std::fs::remove_file(&parts[1]).unwrap();
        let err = committed_files(d).unwrap_err().to_string();
        assert!(err.contains("part-00001.csv"), "{err}");
    }

    #[test]
    fn bookkeeping_names() {
        assert!(is_bookkeeping("_SUCCESS"));
        assert!(is_bookkeeping(".part-00001.csv.partial"));
        assert!(!is_bookkeeping("part-00001.csv"));
        assert!(!is_bookkeeping(".hidden.csv"));
        assert!(!is_bookkeeping("notes.partial"));
    }
}
