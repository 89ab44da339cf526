//! Projection pushdown: a query that needs 2 of 9 columns makes the reader decode only those 2.
//!
//! A reader that can read a subset of columns (Parquet, CSV) attaches a [`ColumnSource`] to the
//! frame it returns. When the frame is materialised, the columns its result needs are traced
//! back through its row-wise operations to the columns it must read, and if that is fewer than
//! all of them, the input is re-planned from the source with just those.

use std::collections::BTreeSet;

use arrow::datatypes::Schema;

use super::ops::RowOp;
use super::{DataFrame, Expr};
use crate::error::Result;

/// A reader that can re-plan itself to read fewer columns.
pub trait ColumnSource: Send + Sync {
    /// The same partitions, reading only `columns` (given in the source's own order).
    ///
    /// # Errors
    /// Whatever re-planning the reader can fail with (an unreadable footer, say).
    fn read_columns(&self, columns: &[String]) -> Result<DataFrame>;
}

impl Expr {
    /// The columns this expression reads.
    pub fn columns(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Column(c) => {
                out.insert(c.clone());
            }
            Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.collect_columns(out);
                right.collect_columns(out);
            }
            Expr::Not(e)
            | Expr::IsNull(e)
            | Expr::Cast(e, _)
            | Expr::Alias(e, _)
            | Expr::Contains(e, _)
            | Expr::StartsWith(e, _)
            | Expr::StrLen(e) => e.collect_columns(out),
        }
    }
}

/// The input columns that `ops` need for their result to hold `needed`; `None` means all.
pub(crate) fn needed_inputs(ops: &[RowOp], needed: BTreeSet<String>) -> Option<BTreeSet<String>> {
    let mut needed = needed;
    for op in ops.iter().rev() {
        match op {
            RowOp::Select(exprs) => {
                needed = exprs.iter().flat_map(Expr::columns).collect();
            }
            RowOp::Filter(p) => needed.extend(p.columns()),
            RowOp::WithColumn(name, e) => {
                needed.remove(name);
                needed.extend(e.columns());
            }
            RowOp::Rename(pairs) => {
                for (old, new) in pairs {
                    if needed.remove(new) {
                        needed.insert(old.clone());
                    }
                }
            }
            RowOp::Drop(_) | RowOp::FillNull(_) => {}
            RowOp::DropNull(subset) if subset.is_empty() => return None,
            RowOp::DropNull(subset) => needed.extend(subset.iter().cloned()),
        }
    }
    Some(needed)
}

impl DataFrame {
    /// The same frame, reading from `source` only the columns a result needs. Readers call this
    /// on the frames they return; `self` must not have row-wise operations yet.
    pub fn with_column_source(mut self, source: std::sync::Arc<dyn ColumnSource>) -> DataFrame {
        if self.ops.is_empty() {
            self.source = Some((source, self.schema.clone()));
        }
        self
    }

    /// This frame re-planned to read only the input columns that `needed` (columns of the
    /// result) depend on, when its reader can do that and it saves anything.
    pub(crate) fn pruned_for(&self, needed: BTreeSet<String>) -> Option<DataFrame> {
        let (source, input_schema) = self.source.as_ref()?;
        let inputs = needed_inputs(&self.ops, needed)?;
        if inputs.len() >= input_schema.fields().len() {
            return None;
        }
        let ordered: Vec<String> = input_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| inputs.contains(n))
            .collect();
        let mut df = source.read_columns(&ordered).ok()?;
        for op in self.ops.iter() {
            // Dropping or renaming a column that is no longer read is a no-op.
            let have = names(&df.schema);
            let op = match op {
                RowOp::Drop(cols) => {
                    RowOp::Drop(cols.iter().filter(|c| have.contains(*c)).cloned().collect())
                }
                RowOp::Rename(pairs) => RowOp::Rename(
                    pairs
                        .iter()
                        .filter(|(old, _)| have.contains(old))
                        .cloned()
                        .collect(),
                ),
                other => other.clone(),
            };
            df = df.with_op(op).ok()?;
        }
        Some(df)
    }
}

/// The names of a schema's columns.
pub(crate) fn names(schema: &Schema) -> BTreeSet<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}
