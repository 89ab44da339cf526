//! `to_textfiles`: one text file per partition, each written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use partita_collections::Bag;

use crate::atomic::write_atomic;
use crate::error::Result;

/// Writes each partition of `bag` to `dir/part-NNNNN.txt`, one item per line, and returns the
/// paths in partition order. The partitions are written in parallel on the current runtime
/// ([`Runtime::current`](partita_runtime::Runtime::current)); each file is written to a
/// temporary name and renamed when complete, so a failure leaves no half file. The folder's
/// `_SUCCESS` marker, listing the parts, is written last (see
/// [`Source::committed`](crate::Source::committed)).
///
/// ```
/// use partita_collections::Bag;
/// let dir = tempfile::tempdir().unwrap();
/// let bag = Bag::from_sequence(vec!["a".to_string(), "b".into(), "c".into()], 2);
/// let files = partita_io::to_textfiles(&bag, dir.path())?;
/// assert_eq!(files.len(), 2);
/// assert_eq!(std::fs::read_to_string(&files[1]).unwrap(), "b\nc\n");
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if `dir` cannot be created; a failed write fails the compute with an error
/// naming the file.
pub fn to_textfiles<T>(bag: &Bag<T>, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>>
where
    T: AsRef<str> + Clone + Send + Sync + 'static,
{
    let dir = dir.as_ref().to_path_buf();
    crate::commit::begin(&dir, "txt")?;
    let parts = dir.clone();
    let written = bag.try_map_partitions(move |i, lines: Vec<T>| {
        let path = parts.join(format!("part-{i:05}.txt"));
        write_atomic(&path, |w| {
            for line in &lines {
                w.write_all(line.as_ref().as_bytes())?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })
        .map(|()| vec![path])
    });
    let files = written.compute()?;
    crate::commit::finish(&dir, &files)?;
    Ok(files)
}
