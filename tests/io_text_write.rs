//! `to_textfiles`: one file per partition, and no half file after a failure.

use partita::io::{read_text, to_textfiles};
use partita::prelude::*;

#[test]
fn round_trips_through_read_text() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let lines: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    let bag = Bag::from_sequence(lines.clone(), 4);
    let files = rt
        .install(|| to_textfiles(&bag, dir.path().join("out")))
        .unwrap();
    assert_eq!(files.len(), 4);
    assert!(files[3].ends_with("part-00003.txt"));
    let pattern = format!("{}/out/part-*.txt", dir.path().display());
    assert_eq!(
        read_text(pattern.as_str(), None)
            .unwrap()
            .compute()
            .unwrap(),
        lines
    );
}

#[test]
fn a_failed_partition_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rt = Runtime::builder().threads(1).build().unwrap();
    let bag = Bag::from_sequence(0..40_u32, 4).map(|i| {
        if i == 25 {
            panic!("item {i} cannot be formatted");
        }
        format!("{i}")
    });
    let err = rt.install(|| to_textfiles(&bag, &out)).unwrap_err();
    assert!(
        err.to_string().contains("item 25 cannot be formatted"),
        "{err}"
    );
    assert!(!out.join("part-00002.txt").exists());
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.contains("partial"),
            "a temporary file was left: {name}"
        );
        let text = std::fs::read_to_string(out.join(&name)).unwrap();
        assert_eq!(text.lines().count(), 10, "{name} is incomplete");
    }
}

#[test]
fn an_unwritable_directory_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bag = Bag::from_sequence(vec!["a".to_string()], 1);
    let err = to_textfiles(&bag, file.join("sub")).unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}
