//! Finding where CSV records start, correctly across quoted fields that contain newlines.
//!
//! A byte offset is a record start if it is 0 or follows a newline that is outside quotes.
//! Whether a newline is quoted depends on every quote before it, so the only sound way to split
//! a file is one pass from its beginning that tracks the quoting. [`record_starts`] makes that
//! pass and, for each nominal block offset, returns the first record start at or after it, with
//! the record's number and line, for error messages. (A doubled quote `""` inside a quoted field
//! toggles the state twice, so the pass needs no special case for it.)

use std::io::Read;

/// A record start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    /// Byte offset.
    pub(crate) offset: u64,
    /// Records (including a header) before it.
    pub(crate) record: u64,
    /// Newlines (quoted or not) before it: its line is `line + 1`.
    pub(crate) line: u64,
}

/// For each of `nominal` (ascending), the first record start at or after it, or the end of the
/// input. The pass jumps from quote to newline with `memchr2`, so it costs one step per line,
/// not per byte.
pub(crate) fn record_starts(
    mut input: impl Read,
    nominal: &[u64],
    quote: u8,
) -> std::io::Result<Vec<Start>> {
    let mut out = Vec::with_capacity(nominal.len());
    let mut next = 0;
    // Offset 0 starts the first record.
    while next < nominal.len() && nominal[next] == 0 {
        out.push(Start {
            offset: 0,
            record: 0,
            line: 0,
        });
        next += 1;
    }
    // Unquoted newlines (records ended) and all newlines seen so far.
    let (mut records, mut lines) = (0_u64, 0_u64);
    let mut in_quotes = false;
    let mut pos = 0_u64;
    let mut last = b'\n';
    let mut buf = vec![0_u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        for i in memchr::memchr2_iter(quote, b'\n', chunk) {
            if chunk[i] == quote {
                in_quotes = !in_quotes;
                continue;
            }
            lines += 1;
            if in_quotes {
                continue;
            }
            records += 1;
            let start = pos + i as u64 + 1;
            while next < nominal.len() && nominal[next] <= start {
                out.push(Start {
                    offset: start,
                    record: records,
                    line: lines,
                });
                next += 1;
            }
        }
        last = chunk[n - 1];
        pos += n as u64;
    }
    // Past the last record: the end of the input (a last line without a newline is a record too).
    let record = records + u64::from(pos > 0 && last != b'\n');
    while next < nominal.len() {
        out.push(Start {
            offset: pos,
            record,
            line: lines,
        });
        next += 1;
    }
    Ok(out)
}

/// The line (1-based, within `bytes`) on which record `n` (0-based) of `bytes` starts.
pub(crate) fn line_of_record(bytes: &[u8], n: u64, quote: u8) -> u64 {
    let mut record = 0;
    let mut line = 1;
    let mut in_quotes = false;
    for &b in bytes {
        if record == n {
            return line;
        }
        if b == quote {
            in_quotes = !in_quotes;
        } else if b == b'\n' {
            line += 1;
            if !in_quotes {
                record += 1;
            }
        }
    }
    line
}

/// The number of fields of the first record of `bytes`.
pub(crate) fn first_record_width(bytes: &[u8], delimiter: u8, quote: u8) -> usize {
    let mut fields = 1;
    let mut in_quotes = false;
    for i in memchr::memchr3_iter(quote, delimiter, b'\n', bytes) {
        match bytes[i] {
            b if b == quote => in_quotes = !in_quotes,
            b'\n' if !in_quotes => break,
            b'\n' => {}
            _ if !in_quotes => fields += 1,
            _ => {}
        }
    }
    fields
}

/// `bytes` without the records whose field count is not `width`, and the lines (1-based,
/// within `bytes`) of the records dropped.
pub(crate) fn drop_ragged(
    bytes: &[u8],
    delimiter: u8,
    quote: u8,
    width: usize,
) -> (Vec<u8>, Vec<u64>) {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dropped = Vec::new();
    let (mut start, mut fields, mut line, mut record_line) = (0_usize, 1_usize, 1_u64, 1_u64);
    let mut in_quotes = false;
    for i in memchr::memchr3_iter(quote, delimiter, b'\n', bytes) {
        match bytes[i] {
            b if b == quote => in_quotes = !in_quotes,
            b'\n' => {
                line += 1;
                if in_quotes {
                    continue;
                }
                let record = &bytes[start..=i];
                let blank = record.iter().all(|b| b.is_ascii_whitespace());
                if fields == width || blank {
                    kept.extend_from_slice(record);
                } else {
                    dropped.push(record_line);
                }
                start = i + 1;
                fields = 1;
                record_line = line;
            }
            _ if !in_quotes => fields += 1,
            _ => {}
        }
    }
    if start < bytes.len() {
        if fields == width {
            kept.extend_from_slice(&bytes[start..]);
        } else {
            dropped.push(record_line);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod test {
    use super::*;

    /// The reference: record starts by a naive sequential parse.
    fn starts(text: &str) -> Vec<u64> {
        let mut out = vec![0];
        let mut q = false;
        for (i, c) in text.bytes().enumerate() {
            if c == b'"' {
                q = !q;
            } else if c == b'\n' && !q && i + 1 < text.len() {
                out.push(i as u64 + 1);
            }
        }
        out
    }

    #[test]
    fn every_nominal_offset_moves_to_the_next_true_record_start() {
        let text = "a,b\n1,\"x\ny\"\n2,\"\"\"q\"\"\n\"\n3,z\n";
        let truth = starts(text);
        for nominal in 0..=text.len() as u64 {
            let got = record_starts(text.as_bytes(), &[nominal], b'"').unwrap()[0];
            let expected = truth
                .iter()
                .copied()
                .find(|&s| s >= nominal)
                .unwrap_or(text.len() as u64);
            assert_eq!(got.offset, expected, "nominal {nominal}");
            let record = truth.iter().filter(|&&s| s < got.offset).count() as u64;
            assert_eq!(got.record, record, "nominal {nominal}");
            let line = text.as_bytes()[..got.offset as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            assert_eq!(got.line, line);
        }
    }

    #[test]
    fn ragged_records_are_dropped_with_their_lines() {
        let text = b"a,b\n1,2\n3,4,5\n\"x,\ny\",6\n7\n8,9";
        let (kept, dropped) = drop_ragged(text, b',', b'"', 2);
        assert_eq!(kept, b"a,b\n1,2\n\"x,\ny\",6\n8,9");
        assert_eq!(dropped, vec![3, 6]);
    }

    #[test]
    fn line_of_record_counts_quoted_newlines() {
        let text = b"1,\"a\nb\"\n2,c\n3,d\n";
        assert_eq!(line_of_record(text, 0, b'"'), 1);
        assert_eq!(line_of_record(text, 1, b'"'), 3);
        assert_eq!(line_of_record(text, 2, b'"'), 4);
    }
}
