//! Naming input files: a glob pattern, one path, or a list of paths.

use std::path::{Path, PathBuf};

use crate::error::{Cause, Error, Result};

/// Where a reader's input comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A glob pattern (`data/part-*.txt`), or a plain path. Matches are read in sorted order.
    Glob(String),
    /// These files, in this order.
    Paths(Vec<PathBuf>),
    /// The files a committed multi-file write made in this folder, as its `_SUCCESS` marker
    /// lists them; a folder without the marker is refused. See [`Source::committed`].
    Committed(PathBuf),
}

impl Source {
    /// The files of a finished write in `dir` (`to_csv`, `to_parquet`, `to_ipc`,
    /// `to_textfiles`), exactly as its `_SUCCESS` marker lists them. A folder whose write was
    /// interrupted has no marker, and reading it is [`Error::Uncommitted`].
    ///
    /// ```
    /// use partita_collections::Bag;
    /// use partita_io::{read_text, to_textfiles, Error, Source};
    /// let dir = tempfile::tempdir().unwrap();
    /// let bag = Bag::from_sequence(vec!["a".to_string(), "b".into(), "c".into()], 2);
    /// to_textfiles(&bag, dir.path())?;
    /// let lines = read_text(Source::committed(dir.path()), None)?.compute()?;
    /// assert_eq!(lines, ["a", "b", "c"]);
    /// std::fs::remove_file(dir.path().join("_SUCCESS")).unwrap();
    /// let refused = read_text(Source::committed(dir.path()), None);
    /// assert!(matches!(refused, Err(Error::Uncommitted { .. })));
    /// # Ok::<(), partita_io::Error>(())
    /// ```
    pub fn committed(dir: impl AsRef<Path>) -> Source {
        Source::Committed(dir.as_ref().to_path_buf())
    }
}

impl From<&str> for Source {
    fn from(s: &str) -> Self {
        Source::Glob(s.to_string())
    }
}

impl From<String> for Source {
    fn from(s: String) -> Self {
        Source::Glob(s)
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Self {
        Source::Paths(vec![p.to_path_buf()])
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::Paths(vec![p])
    }
}

impl From<Vec<PathBuf>> for Source {
    fn from(ps: Vec<PathBuf>) -> Self {
        Source::Paths(ps)
    }
}

impl From<&[PathBuf]> for Source {
    fn from(ps: &[PathBuf]) -> Self {
        Source::Paths(ps.to_vec())
    }
}

impl Source {
    /// The files, checked to exist.
    ///
    /// # Errors
    /// [`Error::NoFiles`] when a pattern matches nothing, [`Error::Io`] naming a listed file that
    /// cannot be read, [`Error::Pattern`] for a malformed pattern.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let files = match self {
            Source::Paths(ps) => ps.clone(),
            Source::Committed(dir) => crate::commit::committed_files(dir)?,
            Source::Glob(pattern) if !has_glob_chars(pattern) => vec![PathBuf::from(pattern)],
            Source::Glob(pattern) => {
                let mut found = Vec::new();
                // A hidden file matches only a pattern that names its leading dot, and a write's
                // temporary files and marker match none.
                let options = glob::MatchOptions {
                    require_literal_leading_dot: true,
                    ..glob::MatchOptions::new()
                };
                let matches = glob::glob_with(pattern, options).map_err(|e| Error::Pattern {
                    pattern: pattern.clone(),
                    source: Cause::new_dyn(e),
                })?;
                for m in matches {
                    let path = m.map_err(|e| {
                        let path = e.path().to_path_buf();
                        Error::io(path, e.into())
                    })?;
                    let bookkeeping = path
                        .file_name()
                        .is_some_and(|n| crate::commit::is_bookkeeping(&n.to_string_lossy()));
                    if path.is_file() && !bookkeeping {
                        found.push(path);
                    }
                }
                found.sort();
                if found.is_empty() {
                    return Err(Error::NoFiles {
                        pattern: pattern.clone(),
                    });
                }
                found
            }
        };
        for f in &files {
            std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
        }
        Ok(files)
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_malformed_pattern_keeps_the_glob_error() {
        let err = Source::Glob("data/[".into()).files().unwrap_err();
        assert!(matches!(err, Error::Pattern { .. }), "{err}");
        let cause = std::error::Error::source(&err).expect("the glob error");
        assert!(
            cause.downcast_ref::<glob::PatternError>().is_some(),
            "{cause:?}"
        );
    }
}
