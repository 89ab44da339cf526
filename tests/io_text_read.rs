//! `read_text`: no line lost or duplicated at any block boundary, compression, errors.

use std::io::Write;
use std::path::Path;

use partita::io::{read_text, read_text_with, Error, TextOptions};
use partita::prelude::*;
use proptest::prelude::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The reference: the whole file's `str::lines`.
fn expected(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

const CASES: &[&str] = &[
    "",
    "\n",
    "\n\n\n",
    "a",
    "a\n",
    "one\ntwo\nthree",
    "one\ntwo\nthree\n",
    "crlf\r\nline two\r\n\r\nlast\r\n",
    "long line with several words in it\nx\n\nyy\nzzz zzz zzz\n",
    "héllo wörld\n日本語のテキスト\nemoji 🎉 here\n",
];

#[test]
fn every_blocksize_from_one_byte_to_the_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    for (i, text) in CASES.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.txt"), text.as_bytes());
        for bs in 1..=(text.len() as u64).max(1) + 1 {
            let bag = read_text(path.as_path(), Some(bs)).unwrap();
            let got = rt.install(|| bag.compute()).unwrap();
            assert_eq!(got, expected(text), "case {i} {text:?} blocksize {bs}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_text_at_random_blocksizes(
        lines in proptest::collection::vec("[a-z é\r]{0,12}", 0..40),
        trailing in any::<bool>(),
        bs in 1_u64..64,
    ) {
        let mut text = lines.join("\n");
        if trailing {
            text.push('\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "random.txt", text.as_bytes());
        let got = read_text(path.as_path(), Some(bs)).unwrap().compute().unwrap();
        prop_assert_eq!(got, expected(&text));
    }
}

#[test]
fn a_glob_reads_matching_files_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "part-1.txt", b"c\nd\n");
    write(dir.path(), "part-0.txt", b"a\nb\n");
    write(dir.path(), "other.csv", b"not me\n");
    let pattern = format!("{}/part-*.txt", dir.path().display());
    let bag = read_text(pattern.as_str(), None).unwrap();
    assert_eq!(bag.npartitions(), 2);
    assert_eq!(bag.compute().unwrap(), vec!["a", "b", "c", "d"]);
}

#[test]
fn empty_files_give_empty_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.txt", b"");
    let b = write(dir.path(), "b.txt", b"x\n");
    let bag = read_text(vec![a, b], Some(4)).unwrap();
    assert_eq!(bag.npartitions(), 2);
    assert_eq!(bag.compute().unwrap(), vec!["x"]);
}

#[test]
fn gzip_and_zstd_files_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let text = "alpha beta\ngamma\n".repeat(100);
    let gz = dir.path().join("t.txt.gz");
    let mut enc = flate2_writer(&gz);
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("t.txt.zst");
    std::fs::write(&zst, zstd_compress(text.as_bytes())).unwrap();
    for path in [gz, zst] {
        let bag = read_text(path.as_path(), Some(16)).unwrap();
        assert_eq!(bag.npartitions(), 1, "{}", path.display());
        assert_eq!(bag.compute().unwrap(), expected(&text));
    }
}

fn flate2_writer(path: &Path) -> flate2::write::GzEncoder<std::fs::File> {
    flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    )
}

fn zstd_compress(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

#[test]
fn invalid_utf8_names_the_file_and_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.txt", b"fine\nalso fine\nbad \xff here\n");
    for bs in [None, Some(4)] {
        let err = read_text(path.as_path(), bs)
            .unwrap()
            .compute()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.txt"), "{msg}");
        assert!(msg.contains("invalid UTF-8 at byte 19"), "{msg}");
    }
    let lossy = read_text_with(
        path.as_path(),
        TextOptions {
            blocksize: Some(4),
            lossy: true,
        },
    )
    .unwrap();
    assert_eq!(
        lossy.compute().unwrap(),
        vec!["fine", "also fine", "bad \u{fffd} here"]
    );
}

#[test]
fn a_missing_file_or_an_empty_glob_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let err = read_text(missing.as_path(), None).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("nope.txt"), "{err}");
    let pattern = format!("{}/*.log", dir.path().display());
    let err = read_text(pattern.as_str(), None).unwrap_err();
    assert!(matches!(err, Error::NoFiles { .. }), "{err}");
}

#[test]
fn a_word_count_over_blocks_matches_a_plain_loop() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("w{} w{} common\n", i % 7, i % 13));
    }
    let path = write(dir.path(), "words.txt", text.as_bytes());
    let lines = read_text(path.as_path(), Some(1000)).unwrap();
    let words = lines.flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let mut got = words.frequencies().compute().unwrap();
    got.sort();
    let mut borrowed = lines
        .str_frequencies(|l, count| l.split_whitespace().for_each(count))
        .compute()
        .unwrap();
    borrowed.sort();
    let mut reference = std::collections::BTreeMap::new();
    for w in text.split_whitespace() {
        *reference.entry(w.to_string()).or_insert(0_u64) += 1;
    }
    let reference: Vec<_> = reference.into_iter().collect();
    assert_eq!(got, reference);
    assert_eq!(borrowed, reference);
}
