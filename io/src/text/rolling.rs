//! A streaming sink that writes lines into rolling text files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use partita_collections::{Stream, Topology};

use crate::atomic::temporary_name;
use crate::error::{Error, Result};

/// When a rolling sink closes its file and starts the next one. Unset limits do not apply; the
/// last file closes when the stream ends.
#[derive(Clone, Debug, Default)]
pub struct Roll {
    /// Records per file.
    pub max_records: Option<u64>,
    /// Bytes per file (a file may pass it by one batch).
    pub max_bytes: Option<u64>,
    /// How long a file stays open (checked as records arrive).
    pub max_age: Option<Duration>,
}

struct Open {
    writer: BufWriter<File>,
    temporary: PathBuf,
    path: PathBuf,
    records: u64,
    bytes: u64,
    opened: Instant,
}

struct Rolling {
    dir: PathBuf,
    roll: Roll,
    next: usize,
    open: Option<Open>,
    written: Vec<PathBuf>,
}

impl Rolling {
    fn write_batch<T: AsRef<str>>(&mut self, lines: Vec<T>) -> std::io::Result<()> {
        for line in lines {
            if self.open.is_none() {
                let path = self.dir.join(format!("part-{:05}.txt", self.next));
                self.next += 1;
                let temporary = temporary_name(&path);
                self.open = Some(Open {
                    writer: BufWriter::new(File::create(&temporary)?),
                    temporary,
                    path,
                    records: 0,
                    bytes: 0,
                    opened: Instant::now(),
                });
            }
            let Some(open) = self.open.as_mut() else {
                continue;
            };
            let line = line.as_ref().as_bytes();
            open.writer.write_all(line)?;
            open.writer.write_all(b"\n")?;
            open.records += 1;
            open.bytes += line.len() as u64 + 1;
            let full = self.roll.max_records.is_some_and(|m| open.records >= m)
                || self.roll.max_bytes.is_some_and(|m| open.bytes >= m)
                || self
                    .roll
                    .max_age
                    .is_some_and(|m| open.opened.elapsed() >= m);
            if full {
                self.close()?;
            }
        }
        Ok(())
    }

    /// Completes the open file: flush, sync, rename into place.
    fn close(&mut self) -> std::io::Result<()> {
        if let Some(open) = self.open.take() {
            let file = open.writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&open.temporary, &open.path)?;
            self.written.push(open.path);
        }
        Ok(())
    }
}

/// A sink that writes each record of `stream` as a line into `dir/part-NNNNN.txt`, starting a
/// new file when `roll` says so. A file is written under a hidden temporary name and renamed
/// when complete, so a reader of `dir` never sees a half-written file. The pipeline's result is
/// the list of files written.
///
/// ```
/// use partita_collections::Stream;
/// use partita_io::{to_rolling_textfiles, Roll};
/// let dir = tempfile::tempdir().unwrap();
/// let roll = Roll { max_records: Some(4), ..Roll::default() };
/// let lines = Stream::iter((0..10).map(|i| format!("line {i}")));
/// let files = to_rolling_textfiles(lines, dir.path(), roll)?.start().wait()?;
/// assert_eq!(files.len(), 3);
/// assert_eq!(std::fs::read_to_string(&files[2]).unwrap(), "line 8\nline 9\n");
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created. A failed write fails the pipeline, naming the
/// file; the file being written is removed.
pub fn to_rolling_textfiles<T>(
    stream: Stream<T>,
    dir: impl AsRef<Path>,
    roll: Roll,
) -> Result<Topology<Vec<PathBuf>>>
where
    T: AsRef<str> + Send + 'static,
{
    let dir = dir.as_ref().to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let state = Rolling {
        dir,
        roll,
        next: 0,
        open: None,
        written: Vec::new(),
    };
    Ok(stream.sink_batches(
        "rolling_textfiles",
        state,
        |s: &mut Rolling, batch: Vec<T>| {
            s.write_batch(batch).map_err(|e| {
                let name = s.open.take().map(|o| {
                    let _ = std::fs::remove_file(&o.temporary);
                    o.path.display().to_string()
                });
                format!(
                    "{}: {e}",
                    name.unwrap_or_else(|| s.dir.display().to_string())
                )
            })
        },
        |mut s: Rolling| {
            s.close()
                .map(|()| s.written)
                .map_err(|e| format!("{}: {e}", s.dir.display()))
        },
    ))
}
