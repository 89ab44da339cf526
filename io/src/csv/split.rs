//! Finding where CSV records start and end, with the parser's own reading of quotes.
//!
//! arrow's CSV reader parses with `csv-core`. Every pass here either runs the same `csv-core`,
//! configured as arrow configures it ([`Dialect`]), or, where no quote can matter, jumps from
//! newline to newline with `memchr`. So the block splitter, the ragged-row filter and the line
//! numbers of errors agree with the parser, also about a quote inside an unquoted field
//! (`1,5 "inch`), which is a literal character to the parser, as it is to pandas and pyarrow:
//! a quote opens a quoted field only as the field's first byte.
//!
//! A byte offset is a record start if it is 0 or ends a record. Whether a newline ends a record
//! depends on every quote before it, so the only sound way to split a file is one pass from its
//! beginning. [`record_starts`] makes that pass and, for each nominal block offset, returns the
//! first record start at or after it, with the lines before it, for error messages. It also
//! finds an unterminated quote, which the parser would silently read to the end of the file.

use std::io::Read;
use std::ops::Range;

use csv_core::{ReadFieldResult, ReadRecordResult};
use serde::{Deserialize, Serialize};

/// The parser's delimiter and quote. The other settings are arrow's defaults: `""` is an
/// escaped quote, there is no escape character and no comment, and `\r`, `\n` and `\r\n` end a
/// record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dialect {
    /// The field delimiter.
    pub(crate) delimiter: u8,
    /// The quote character.
    pub(crate) quote: u8,
}

impl Dialect {
    /// A `csv-core` reader as arrow's reader builds it.
    fn parser(self) -> csv_core::Reader {
        let mut builder = csv_core::ReaderBuilder::new();
        builder.delimiter(self.delimiter).quote(self.quote);
        builder.build()
    }

    /// Whether a quote after `prev` opens a quoted field: it is the field's first byte.
    fn opens_field(self, prev: u8) -> bool {
        prev == self.delimiter || prev == b'\n' || prev == b'\r'
    }
}

/// A record start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    /// Byte offset.
    pub(crate) offset: u64,
    /// Newlines (quoted or not) before it: its line is `line + 1`.
    pub(crate) line: u64,
}

/// Why a file cannot be split.
#[derive(Debug)]
pub(crate) enum SplitError {
    /// Reading failed.
    Io(std::io::Error),
    /// A quoted field that opens on `line` (counted from 1) is never closed.
    Unterminated {
        /// The line of the opening quote.
        line: u64,
    },
}

fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// For each of `nominal` (ascending), the first record start at or after it, or the end of the
/// input.
///
/// Outside quotes the pass jumps from quote to newline with `memchr2`, so it costs one step per
/// line. A quote that opens a field hands the rest of its record to `csv-core`, which reads it
/// as the parser will; a quote elsewhere is a literal byte and changes nothing.
///
/// # Errors
/// [`SplitError::Io`] if reading fails, [`SplitError::Unterminated`] if the input ends inside
/// a quoted field.
pub(crate) fn record_starts(
    mut input: impl Read,
    nominal: &[u64],
    dialect: Dialect,
) -> Result<Vec<Start>, SplitError> {
    let mut out = Vec::with_capacity(nominal.len());
    let mut next = 0;
    let mut push = |offset: u64, line: u64, out: &mut Vec<Start>| {
        while next < nominal.len() && nominal[next] <= offset {
            out.push(Start { offset, line });
            next += 1;
        }
    };
    push(0, 0, &mut out);
    let mut parser = dialect.parser();
    // The field output is not needed, only where fields and records end.
    let mut field = vec![0_u8; 64 << 10];
    // Inside a record that `parser` reads: the line its current field starts on.
    let mut quoted: Option<u64> = None;
    let mut lines = 0_u64;
    let mut pos = 0_u64;
    // The byte before the chunk; the input's start is a field's start, as after a newline.
    let mut last = b'\n';
    // After a byte-order mark, which the parser skips, the first field starts.
    let mut bom = None;
    let mut buf = vec![0_u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(SplitError::Io)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if pos == 0 && chunk.starts_with(b"\xef\xbb\xbf") {
            bom = Some(3);
        }
        let mut i = 0;
        while i < n {
            if let Some(field_line) = quoted.as_mut() {
                let (result, read, _) = parser.read_field(&chunk[i..], &mut field);
                lines += newlines(&chunk[i..i + read]);
                i += read;
                match result {
                    ReadFieldResult::Field { record_end: true } | ReadFieldResult::End => {
                        quoted = None;
                        push(pos + i as u64, lines, &mut out);
                    }
                    ReadFieldResult::Field { record_end: false } => *field_line = lines + 1,
                    ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                }
                continue;
            }
            let Some(k) = memchr::memchr2(dialect.quote, b'\n', &chunk[i..]) else {
                break;
            };
            let j = i + k;
            if chunk[j] == b'\n' {
                lines += 1;
                i = j + 1;
                push(pos + i as u64, lines, &mut out);
            } else if bom == Some(pos + j as u64)
                || dialect.opens_field(if j == 0 { last } else { chunk[j - 1] })
            {
                parser.reset();
                quoted = Some(lines + 1);
                i = j;
            } else {
                i = j + 1;
            }
        }
        last = chunk[n - 1];
        pos += n as u64;
    }
    if let Some(line) = quoted {
        // A newline ends the record unless the input ended inside a quoted field. (The
        // parser is not needed after this; `csv_core::Reader::clone` does not copy its tables.)
        let (result, _, _) = parser.read_field(b"\n", &mut field);
        if !matches!(result, ReadFieldResult::Field { record_end: true }) {
            return Err(SplitError::Unterminated { line });
        }
    }
    // Past the last record: the end of the input.
    push(u64::MAX, lines, &mut out);
    for s in &mut out {
        s.offset = s.offset.min(pos);
    }
    Ok(out)
}

/// One record of a byte slice, as the parser reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Its bytes, with the blank lines before it (which the parser skips).
    pub(crate) span: Range<usize>,
    /// Its number of fields.
    pub(crate) fields: usize,
    /// The line (counted from 1 within the slice) its first field starts on.
    pub(crate) line: u64,
}

/// The records of `bytes`, as the parser reads them: blank lines are no records.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    parser: csv_core::Reader,
    pos: usize,
    lines: u64,
    field: Vec<u8>,
    ends: Vec<usize>,
}

impl<'a> Records<'a> {
    /// The records of `bytes`.
    pub(crate) fn new(bytes: &'a [u8], dialect: Dialect) -> Self {
        Records {
            bytes,
            parser: dialect.parser(),
            pos: 0,
            lines: 0,
            field: vec![0; 64 << 10],
            ends: vec![0; 1024],
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let start = self.pos;
        let mut fields = 0;
        loop {
            let input = &self.bytes[self.pos..];
            let (result, read, _, ends) =
                self.parser
                    .read_record(input, &mut self.field, &mut self.ends);
            self.pos += read;
            fields += ends;
            match result {
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return None,
                ReadRecordResult::InputEmpty
                | ReadRecordResult::OutputFull
                | ReadRecordResult::OutputEndsFull => {}
            }
        }
        let span = start..self.pos;
        let bytes = &self.bytes[span.clone()];
        let blank = bytes
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(0);
        let line = self.lines + 1 + newlines(&bytes[..blank]);
        self.lines += newlines(bytes);
        Some(Record { span, fields, line })
    }
}

/// The line (1-based, within `bytes`) on which record `n` (0-based) of `bytes` starts, or the
/// line after the last if there are fewer records.
pub(crate) fn line_of_record(bytes: &[u8], n: u64, dialect: Dialect) -> u64 {
    let mut records = Records::new(bytes, dialect);
    match records.by_ref().nth(n as usize) {
        Some(r) => r.line,
        None => records.lines + 1,
    }
}

/// The number of fields of the first record of `bytes`.
pub(crate) fn first_record_width(bytes: &[u8], dialect: Dialect) -> usize {
    Records::new(bytes, dialect).next().map_or(1, |r| r.fields)
}

/// `bytes` without the records whose field count is not `width`, and the lines (1-based,
/// within `bytes`) of the records dropped. A record of only blanks is kept (the parser skips
/// it).
pub(crate) fn drop_ragged(bytes: &[u8], dialect: Dialect, width: usize) -> (Vec<u8>, Vec<u64>) {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dropped = Vec::new();
    for r in Records::new(bytes, dialect) {
        let record = &bytes[r.span];
        if r.fields == width || record.iter().all(u8::is_ascii_whitespace) {
            kept.extend_from_slice(record);
        } else {
            dropped.push(r.line);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod test {
    use proptest::prelude::*;

    use super::*;

    const CSV: Dialect = Dialect {
        delimiter: b',',
        quote: b'"',
    };

    /// The records of `bytes` with their fields, as the parser reads them.
    fn parse(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut parser = CSV.parser();
        let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), Vec::new());
        // A small output buffer, so that fields also arrive in pieces.
        let mut out = [0_u8; 3];
        let mut input = bytes;
        loop {
            let (result, read, written) = parser.read_field(input, &mut out);
            input = &input[read..];
            field.extend_from_slice(&out[..written]);
            match result {
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                ReadFieldResult::Field { record_end } => {
                    record.push(std::mem::take(&mut field));
                    if record_end {
                        records.push(std::mem::take(&mut record));
                    }
                }
                ReadFieldResult::End => return records,
            }
        }
    }

    /// The reference for an unterminated quote: a byte-by-byte reading of RFC 4180 quoting
    /// (a quote opens a field only as its first byte), with the line of the opening quote.
    fn open_quote(bytes: &[u8]) -> Option<u64> {
        #[derive(PartialEq)]
        enum S {
            FieldStart,
            Field,
            Quoted,
            QuoteInQuoted,
        }
        let (mut s, mut line, mut opened) = (S::FieldStart, 1, 0);
        for &b in bytes {
            let ends_field = b == b',' || b == b'\n' || b == b'\r';
            s = match s {
                S::FieldStart if b == b'"' => {
                    opened = line;
                    S::Quoted
                }
                S::FieldStart | S::Field | S::QuoteInQuoted if ends_field => S::FieldStart,
                S::FieldStart | S::Field => S::Field,
                S::Quoted if b == b'"' => S::QuoteInQuoted,
                S::Quoted => S::Quoted,
                S::QuoteInQuoted if b == b'"' => S::Quoted,
                S::QuoteInQuoted => S::Field,
            };
            line += u64::from(b == b'\n');
        }
        (s == S::Quoted).then_some(opened)
    }

    /// A reader that hands out a few bytes at a time, so that every chunk boundary is tried.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => Just(b'a'),
                2 => Just(b','),
                2 => Just(b'"'),
                2 => Just(b'\n'),
                1 => Just(b'\r'),
                1 => Just(b' '),
            ],
            0..48,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Split at the starts found, the pieces parse to the whole input's records, whatever
        /// the quotes, the chunk size and the nominal offsets.
        #[test]
        fn pieces_parse_as_the_whole(
            bytes in text(),
            cuts in proptest::collection::vec(0_u64..50, 0..6),
            step in 1_usize..5,
        ) {
            let mut nominal = cuts;
            nominal.push(0);
            nominal.push(u64::MAX);
            nominal.sort_unstable();
            let got = record_starts(Trickle(&bytes, step), &nominal, CSV);
            match open_quote(&bytes) {
                Some(line) => {
                    prop_assert!(
                        matches!(got, Err(SplitError::Unterminated { line: l }) if l == line),
                        "{got:?}"
                    );
                }
                None => {
                    let starts = got.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    prop_assert_eq!(starts.len(), nominal.len());
                    let mut pieces = Vec::new();
                    for (w, n) in starts.windows(2).zip(&nominal) {
                        prop_assert!(w[0].offset >= (*n).min(bytes.len() as u64));
                        prop_assert_eq!(w[0].line, newlines(&bytes[..w[0].offset as usize]));
                        pieces.extend(parse(&bytes[w[0].offset as usize..w[1].offset as usize]));
                    }
                    prop_assert_eq!(starts.last().map(|s| s.offset), Some(bytes.len() as u64));
                    prop_assert_eq!(pieces, parse(&bytes));
                }
            }
        }

        /// Records see the parser's fields.
        #[test]
        fn records_have_the_parsers_fields(bytes in text()) {
            let widths: Vec<usize> = Records::new(&bytes, CSV).map(|r| r.fields).collect();
            let parsed: Vec<usize> = parse(&bytes).iter().map(Vec::len).collect();
            prop_assert_eq!(widths, parsed);
        }
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_a_literal() {
        let text = b"a,b\n1,5 \"inch\n2,3\n";
        let starts = record_starts(&text[..], &[0, 5, 100], CSV).unwrap();
        assert_eq!(starts[1].offset, 14);
        assert_eq!(starts[1].line, 2);
        let (kept, dropped) = drop_ragged(text, CSV, 2);
        assert_eq!(kept, text);
        assert!(dropped.is_empty());
    }

    #[test]
    fn an_unterminated_quote_names_the_line_it_opens_on() {
        let text = b"a,b\n1,2\n3,\"four\n5,6\n7,8\n";
        let got = record_starts(&text[..], &[0, u64::MAX], CSV);
        assert!(
            matches!(got, Err(SplitError::Unterminated { line: 3 })),
            "{got:?}"
        );
    }

    #[test]
    fn a_byte_order_mark_comes_before_the_first_field() {
        let text = b"\xef\xbb\xbf\"a\nb\",c\n1,2\n";
        let starts = record_starts(&text[..], &[0, 4, 100], CSV).unwrap();
        assert_eq!(starts[1].offset, 11);
    }

    #[test]
    fn ragged_records_are_dropped_with_their_lines() {
        let text = b"a,b\n1,2\n3,4,5\n\"x,\ny\",6\n7\n8,9";
        let (kept, dropped) = drop_ragged(text, CSV, 2);
        assert_eq!(kept, b"a,b\n1,2\n\"x,\ny\",6\n8,9");
        assert_eq!(dropped, vec![3, 6]);
    }

    #[test]
    fn line_of_record_counts_quoted_newlines_and_skips_blank_lines() {
        let text = b"1,\"a\nb\"\n2,c\n\n3,d\n";
        assert_eq!(line_of_record(text, 0, CSV), 1);
        assert_eq!(line_of_record(text, 1, CSV), 3);
        assert_eq!(line_of_record(text, 2, CSV), 5);
        assert_eq!(line_of_record(text, 3, CSV), 6);
    }
}
