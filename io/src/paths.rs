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
            Source::Glob(pattern) if !has_glob_chars(pattern) => vec![PathBuf::from(pattern)],
            Source::Glob(pattern) => {
                let mut found = Vec::new();
                let matches = glob::glob(pattern).map_err(|e| Error::Pattern {
                    pattern: pattern.clone(),
                    source: Cause::new_dyn(e),
                })?;
                for m in matches {
                    let path = m.map_err(|e| {
                        let path = e.path().to_path_buf();
                        Error::io(path, e.into())
                    })?;
                    if path.is_file() {
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
