//! Pushdown into readers: a query that needs 2 of 9 columns makes the reader decode only those
//! 2, and its leading filters let a reader skip what cannot match (Parquet row groups whose
//! statistics exclude the predicate).
//!
//! A reader that can do this (Parquet, CSV) attaches a [`ColumnSource`] to the frame it
//! returns. When the frame is materialised, the columns its result needs are traced back
//! through its row-wise operations to the columns it must read; with the filters that come
//! before any other operation, the input is re-planned from the source. The filters still run
//! on every row read: the reader only skips data it can prove irrelevant.

use std::collections::BTreeSet;

use arrow::datatypes::Schema;

use super::ops::RowOp;
use super::{DataFrame, Expr};
use crate::error::Result;

/// A reader that can re-plan itself to read fewer columns and skip data filters exclude.
pub trait ColumnSource: Send + Sync {
    /// The same partitions (the same number of them), reading only `columns` (given in the
    /// source's own order), and free to leave empty any partition in which no row can satisfy
    /// every one of `filters`.
    ///
    /// # Errors
    /// Whatever re-planning the reader can fail with (an unreadable footer, say).
    fn read(&self, columns: &[String], filters: &[Expr]) -> Result<DataFrame>;
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
            | Expr::StrLen(e)
            | Expr::IsIn(e, _)
            | Expr::Num(e, _)
            | Expr::ToDatetime(e, _)
            | Expr::Dt(e, _) => e.collect_columns(out),
            Expr::Str(e, op) => {
                e.collect_columns(out);
                if let super::strings::StrOp::Cat { other, .. } = op {
                    other.collect_columns(out);
                }
            }
            Expr::When {
                condition,
                then,
                otherwise,
            } => {
                for e in [condition, then, otherwise] {
                    e.collect_columns(out);
                }
            }
            Expr::Coalesce(es) => es.iter().for_each(|e| e.collect_columns(out)),
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
        let all = names(input_schema);
        let inputs = needed_inputs(&self.ops, needed).unwrap_or_else(|| all.clone());
        // Filters before any other operation see the input columns as the reader does.
        let filters: Vec<Expr> = self
            .ops
            .iter()
            .map_while(|op| match op {
                RowOp::Filter(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        if inputs.len() >= all.len() && filters.is_empty() {
            return None;
        }
        let ordered: Vec<String> = input_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| inputs.contains(n))
            .collect();
        let mut df = source.read(&ordered, &filters).ok()?;
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
