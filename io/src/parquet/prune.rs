//! Row-group pruning: a row group whose min/max statistics prove that no row satisfies a
//! filter is not read.
//!
//! Understood filters are comparisons of a column with a literal (`col("id").gt(lit(5))`, in
//! either order) and their `and`/`or` combinations; anything else is assumed to match. Nulls
//! never satisfy a comparison, and statistics cover the non-null values, so skipping by them is
//! safe.

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use partita_collections::{BinaryOp, Expr, Literal};

/// Whether `group` may hold a row satisfying every filter.
pub(crate) fn may_match(group: &RowGroupMetaData, filters: &[Expr]) -> bool {
    filters.iter().all(|f| satisfiable(group, f))
}

/// A bound from statistics or a literal, compared only with its own kind.
#[derive(PartialEq, PartialOrd)]
enum Bound {
    Int(i128),
    Float(f64),
    Bytes(Vec<u8>),
}

fn satisfiable(group: &RowGroupMetaData, filter: &Expr) -> bool {
    let Expr::Binary { left, op, right } = filter else {
        return true;
    };
    match (&**left, *op, &**right) {
        (l, BinaryOp::And, r) => satisfiable(group, l) && satisfiable(group, r),
        (l, BinaryOp::Or, r) => satisfiable(group, l) || satisfiable(group, r),
        (Expr::Column(c), op, Expr::Literal(v)) => compare(group, c, op, v),
        (Expr::Literal(v), op, Expr::Column(c)) => compare(group, c, flip(op), v),
        _ => true,
    }
}

/// `v op col` as `col op' v`.
fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

/// Whether some value in `[min, max]` of column `c` can satisfy `c op v`.
fn compare(group: &RowGroupMetaData, c: &str, op: BinaryOp, v: &Literal) -> bool {
    let Some(stats) = group
        .columns()
        .iter()
        .find(|col| col.column_descr().name() == c)
        .and_then(|col| col.statistics())
    else {
        return true;
    };
    let Some((min, max)) = bounds(stats) else {
        return true;
    };
    let nan = |b: &Bound| matches!(b, Bound::Float(f) if f.is_nan());
    if nan(&min) || nan(&max) {
        return true;
    }
    let v = match v {
        Literal::Int(i) => match min {
            Bound::Float(_) => Bound::Float(*i as f64),
            _ => Bound::Int(i128::from(*i)),
        },
        Literal::Float(f) => match min {
            Bound::Int(_) => return true,
            _ => Bound::Float(*f),
        },
        Literal::Str(s) => Bound::Bytes(s.as_bytes().to_vec()),
        Literal::Bool(_) | Literal::Null | Literal::Duration(_) => return true,
    };
    if std::mem::discriminant(&v) != std::mem::discriminant(&min) {
        return true;
    }
    match op {
        BinaryOp::Eq => min <= v && v <= max,
        BinaryOp::NotEq => !(min == v && max == v),
        BinaryOp::Lt => min < v,
        BinaryOp::LtEq => min <= v,
        BinaryOp::Gt => max > v,
        BinaryOp::GtEq => max >= v,
        _ => true,
    }
}

fn bounds(stats: &Statistics) -> Option<(Bound, Bound)> {
    Some(match stats {
        Statistics::Int32(s) => (
            Bound::Int(i128::from(*s.min_opt()?)),
            Bound::Int(i128::from(*s.max_opt()?)),
        ),
        Statistics::Int64(s) => (
            Bound::Int(i128::from(*s.min_opt()?)),
            Bound::Int(i128::from(*s.max_opt()?)),
        ),
        Statistics::Float(s) => (
            Bound::Float(f64::from(*s.min_opt()?)),
            Bound::Float(f64::from(*s.max_opt()?)),
        ),
        Statistics::Double(s) => (Bound::Float(*s.min_opt()?), Bound::Float(*s.max_opt()?)),
        Statistics::ByteArray(s) => (
            Bound::Bytes(s.min_opt()?.data().to_vec()),
            Bound::Bytes(s.max_opt()?.data().to_vec()),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use partita_collections::{col, lit};

    use super::*;

    /// Row groups of 10 rows: id 0–9, 10–19, ... ; name "g0".."g9" per group; x = id / 2.
    fn metadata() -> parquet::file::metadata::ParquetMetaData {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("x", DataType::Float64, false),
        ]));
        let ids: Vec<i64> = (0..50).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| format!("g{}", i / 10)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|&i| i as f64 / 2.0),
                )),
            ],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(10))
            .build();
        let mut w = ArrowWriter::try_new(&mut bytes, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        SerializedFileReader::new(bytes::Bytes::from(bytes))
            .unwrap()
            .metadata()
            .clone()
    }

    fn kept(filter: Expr) -> Vec<usize> {
        let m = metadata();
        (0..m.num_row_groups())
            .filter(|&g| may_match(m.row_group(g), std::slice::from_ref(&filter)))
            .collect()
    }

    #[test]
    fn statistics_exclude_row_groups_that_cannot_match() {
        assert_eq!(kept(col("id").gt_eq(lit(35))), vec![3, 4]);
        assert_eq!(kept(col("id").lt(lit(10))), vec![0]);
        assert_eq!(kept(col("id").eq(lit(25))), vec![2]);
        assert_eq!(kept(lit(20).gt(col("id"))), vec![0, 1]);
        assert_eq!(kept(col("x").gt(lit(20.0))), vec![4]);
        assert_eq!(kept(col("name").eq(lit("g3"))), vec![3]);
        assert_eq!(
            kept(col("id").lt(lit(5)).or(col("id").gt(lit(44)))),
            vec![0, 4]
        );
        assert_eq!(
            kept(col("id").gt(lit(5)).and(col("id").lt(lit(15)))),
            vec![0, 1]
        );
        // Not understood: everything is kept.
        assert_eq!(kept(col("name").contains("3")), vec![0, 1, 2, 3, 4]);
        assert_eq!(kept(col("nope").eq(lit(1))), vec![0, 1, 2, 3, 4]);
    }
}
