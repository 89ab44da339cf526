//! Numbering the groups of a batch by its key columns, in order of first appearance.
//!
//! Each key column is numbered on its own, by value: integers through a table indexed by value
//! when their range is narrow and as integers otherwise, strings of up to 16 bytes as two machine
//! words (no `memcmp`, no encoding), anything else through its arrow-row
//! encoding. Several key columns combine their numbers pairwise, through a dense table when the
//! product of their group counts is small (as for two low-cardinality keys) and a hash map of
//! pairs otherwise. A null is a value of its own, so null keys form a group.

use std::collections::HashMap;
use std::hash::Hash;

use arrow::array::{Array, ArrayRef, AsArray, GenericStringArray, OffsetSizeTrait};
use arrow::datatypes::DataType;
use foldhash::fast::FixedState;

use super::expr::arrow_error;
use super::shuffle::{for_each_int, row_converter};
use super::str_ids::{Probe, StrIds, BATCH};
use crate::error::Result;
use crate::short_key::INLINE;

/// The rows of a batch numbered by group.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Groups {
    /// Each row's group.
    pub(crate) of_row: Vec<u32>,
    /// Each group's first row; groups are numbered in order of first appearance.
    pub(crate) firsts: Vec<u32>,
}

/// Pairs of group numbers up to this many cells combine through a dense table.
const DENSE_MAX: u64 = 1 << 20;

type Ids<K> = HashMap<K, u32, FixedState>;

impl Groups {
    fn with_capacity(rows: usize) -> Groups {
        Groups {
            of_row: Vec::with_capacity(rows),
            firsts: Vec::new(),
        }
    }

    /// Puts `row` in the group of `key`, a new one if `ids` has not seen the key.
    #[inline]
    fn assign<K: Hash + Eq>(&mut self, ids: &mut Ids<K>, key: K, row: usize) {
        let next = self.firsts.len() as u32;
        let firsts = &mut self.firsts;
        let group = *ids.entry(key).or_insert_with(|| {
            firsts.push(row as u32);
            next
        });
        self.of_row.push(group);
    }

    /// Puts `row` in the group of table cell `cell` (`u32::MAX`: a new group).
    #[inline]
    fn assign_dense(&mut self, table: &mut [u32], cell: usize, row: usize) {
        let group = &mut table[cell];
        if *group == u32::MAX {
            *group = self.firsts.len() as u32;
            self.firsts.push(row as u32);
        }
        self.of_row.push(*group);
    }

    /// The groups of rows that are in group `self.of_row[r]` here and `other.of_row[r]` there.
    fn combine(&self, other: &Groups) -> Groups {
        let rows = self.of_row.len();
        let width = other.firsts.len() as u64;
        let mut out = Groups::with_capacity(rows);
        let cells = self.firsts.len() as u64 * width;
        let pairs = self.of_row.iter().zip(&other.of_row).enumerate();
        if cells <= DENSE_MAX {
            let mut table = vec![u32::MAX; cells as usize];
            for (row, (&a, &b)) in pairs {
                let cell = (u64::from(a) * width + u64::from(b)) as usize;
                out.assign_dense(&mut table, cell, row);
            }
        } else {
            let mut ids = Ids::default();
            for (row, (&a, &b)) in pairs {
                out.assign(&mut ids, u64::from(a) * width + u64::from(b), row);
            }
        }
        out
    }
}

/// The groups of the rows of `columns` (of equal length; at least one).
pub(crate) fn group_rows(columns: &[ArrayRef]) -> Result<Groups> {
    let Some((first, rest)) = columns.split_first() else {
        return Ok(Groups::default());
    };
    let mut groups = column_groups(first)?;
    for c in rest {
        groups = groups.combine(&column_groups(c)?);
    }
    Ok(groups)
}

/// The groups of the values of one column.
fn column_groups(c: &ArrayRef) -> Result<Groups> {
    let mut groups = Groups::with_capacity(c.len());
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    if for_each_int(c, |_, v| {
        if let Some(v) = v {
            (lo, hi) = (lo.min(v), hi.max(v));
        }
    }) {
        // Integers in a narrow range index a table directly (its last cell is null's).
        let span = (i128::from(hi) - i128::from(lo) + 1).max(0);
        if span < i128::from(DENSE_MAX) {
            let mut table = vec![u32::MAX; span as usize + 1];
            for_each_int(c, |row, v| {
                let cell = v.map_or(span as usize, |v| (v - lo) as usize);
                groups.assign_dense(&mut table, cell, row);
            });
        } else {
            let mut ints = Ids::default();
            for_each_int(c, |row, v| groups.assign(&mut ints, v, row));
        }
        return Ok(groups);
    }
    match c.data_type() {
        DataType::Utf8 => return Ok(string_groups(c.as_string::<i32>())),
        DataType::LargeUtf8 => return Ok(string_groups(c.as_string::<i64>())),
        _ => {}
    }
    let columns = std::slice::from_ref(c);
    let rows = row_converter(columns)?
        .convert_columns(columns)
        .map_err(arrow_error)?;
    let mut ids = Ids::default();
    for (row, bytes) in rows.iter().enumerate() {
        groups.assign(&mut ids, bytes.data(), row);
    }
    Ok(groups)
}

fn string_groups<O: OffsetSizeTrait>(a: &GenericStringArray<O>) -> Groups {
    let mut groups = Groups::with_capacity(a.len());
    // Short strings in their own table, in batches; longer ones by their bytes; null apart.
    let mut short = StrIds::new();
    let mut long: Ids<&[u8]> = Ids::default();
    let mut null: Option<u32> = None;
    let mut probes = [Probe::default(); BATCH];
    let n = a.len();
    let short_at = |row: usize| {
        let bytes = a.value(row).as_bytes();
        (a.is_valid(row) && bytes.len() <= INLINE).then_some(bytes)
    };
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        for row in start..end {
            if let Some(bytes) = short_at(row) {
                probes[row - start] = Probe::of(bytes);
            }
        }
        short.touch(&probes[..end - start]);
        for row in start..end {
            let next = groups.firsts.len() as u32;
            let firsts = &mut groups.firsts;
            let new = || {
                firsts.push(row as u32);
                next
            };
            let group = if a.is_null(row) {
                *null.get_or_insert_with(new)
            } else if short_at(row).is_some() {
                short.group(&probes[row - start], new)
            } else {
                *long.entry(a.value(row).as_bytes()).or_insert_with(new)
            };
            groups.of_row.push(group);
        }
    }
    groups
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int32Array, LargeStringArray, StringArray};
    use proptest::prelude::*;

    use super::*;

    /// The reference: every key column's arrow-row encoding, numbered in a plain map.
    fn by_encoding(columns: &[ArrayRef]) -> Groups {
        let rows = row_converter(columns)
            .unwrap()
            .convert_columns(columns)
            .unwrap();
        let mut groups = Groups::with_capacity(rows.num_rows());
        let mut ids = Ids::default();
        for (row, bytes) in rows.iter().enumerate() {
            groups.assign(&mut ids, bytes.data().to_vec(), row);
        }
        groups
    }

    proptest! {
        #[test]
        fn the_same_groups_as_whole_row_encoding(
            rows in proptest::collection::vec(
                (
                    proptest::option::of(0_i32..5),
                    proptest::option::of("[ab]{0,3}|[ab]{15,18}"),
                    proptest::option::of(0_u8..3),
                    any::<bool>(),
                ),
                0..300,
            ),
            which in proptest::collection::vec(0_usize..5, 1..4),
        ) {
            let all: Vec<ArrayRef> = vec![
                Arc::new(rows.iter().map(|r| r.0).collect::<Int32Array>()),
                Arc::new(rows.iter().map(|r| r.1.clone()).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| r.1.clone()).collect::<LargeStringArray>()),
                Arc::new(rows.iter().map(|r| r.2.map(f64::from)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.3)).collect::<BooleanArray>()),
            ];
            let columns: Vec<ArrayRef> = which.iter().map(|&i| all[i].clone()).collect();
            prop_assert_eq!(group_rows(&columns).unwrap(), by_encoding(&columns));
        }
    }

    #[test]
    fn wide_and_extreme_integers_go_through_the_map() {
        let a: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![
            Some(i64::MIN),
            Some(i64::MAX),
            None,
            Some(0),
            Some(i64::MAX),
            None,
            Some(i64::MIN),
        ]));
        let b: ArrayRef = Arc::new(arrow::array::UInt64Array::from(vec![
            u64::MAX,
            0,
            u64::MAX,
            1 << 40,
            0,
            7,
            u64::MAX,
        ]));
        for columns in [vec![a.clone()], vec![b.clone()], vec![a, b]] {
            assert_eq!(group_rows(&columns).unwrap(), by_encoding(&columns));
        }
    }

    #[test]
    fn many_groups_per_column_combine_through_the_map() {
        let a: ArrayRef = Arc::new(Int32Array::from_iter_values(0..3000));
        let b: ArrayRef = Arc::new(Int32Array::from_iter_values((0..3000).map(|i| i % 700)));
        let columns = [a, b];
        assert_eq!(group_rows(&columns).unwrap(), by_encoding(&columns));
    }
}
