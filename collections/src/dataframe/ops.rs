//! Row-wise operations, as data: each knows its output schema and applies itself to a batch.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, Scalar};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, dtype_name, literal_array, Expr, Literal};
use crate::error::{Error, Result};

/// One row-wise operation of a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum RowOp {
    Select(Vec<Expr>),
    Filter(Expr),
    WithColumn(String, Expr),
    Rename(Vec<(String, String)>),
    Drop(Vec<String>),
    /// Nulls of every column the value fits (numbers in numeric columns, strings in string
    /// columns, booleans in boolean ones) become the value.
    FillNull(Literal),
    /// Rows with a null in any of these columns (all columns if empty) are dropped.
    DropNull(Vec<String>),
}

/// Whether a literal can fill a column of type `t`.
fn fits(l: &Literal, t: &DataType) -> bool {
    match l {
        Literal::Null => false,
        Literal::Bool(_) => t == &DataType::Boolean,
        Literal::Int(_) => t.is_integer() || t.is_floating(),
        Literal::Float(_) => t.is_floating(),
        Literal::Str(_) => matches!(t, DataType::Utf8 | DataType::LargeUtf8),
        Literal::Duration(_) => matches!(t, DataType::Duration(_)),
    }
}

fn check_column(schema: &Schema, name: &str) -> Result<()> {
    schema.field_with_name(name).map(|_| ()).map_err(|_| {
        let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Error::Schema {
            message: format!("no column {name:?}; the columns are {have:?}"),
        }
    })
}

impl RowOp {
    /// The schema after this operation.
    pub(crate) fn schema(&self, input: &Schema) -> Result<SchemaRef> {
        let fields: Vec<Field> = match self {
            RowOp::Select(exprs) => exprs
                .iter()
                .map(|e| Ok(Field::new(e.name(), e.data_type(input)?, true)))
                .collect::<Result<_>>()?,
            RowOp::Filter(p) => {
                let t = p.data_type(input)?;
                if !matches!(t, DataType::Boolean) {
                    return Err(Error::Schema {
                        message: format!(
                            "filter needs a boolean expression, not {}",
                            dtype_name(&t)
                        ),
                    });
                }
                input.fields().iter().map(|f| f.as_ref().clone()).collect()
            }
            RowOp::WithColumn(name, e) => {
                let field = Field::new(name, e.data_type(input)?, true);
                let mut fields: Vec<Field> =
                    input.fields().iter().map(|f| f.as_ref().clone()).collect();
                match fields.iter().position(|f| f.name() == name) {
                    Some(i) => fields[i] = field,
                    None => fields.push(field),
                }
                fields
            }
            RowOp::Rename(pairs) => {
                for (old, _) in pairs {
                    check_column(input, old)?;
                }
                input
                    .fields()
                    .iter()
                    .map(|f| {
                        let new = pairs
                            .iter()
                            .find(|(old, _)| old == f.name())
                            .map_or(f.name().as_str(), |(_, new)| new.as_str());
                        f.as_ref().clone().with_name(new)
                    })
                    .collect()
            }
            RowOp::Drop(cols) => {
                for c in cols {
                    check_column(input, c)?;
                }
                input
                    .fields()
                    .iter()
                    .filter(|f| !cols.contains(f.name()))
                    .map(|f| f.as_ref().clone())
                    .collect()
            }
            RowOp::FillNull(_) => input.fields().iter().map(|f| f.as_ref().clone()).collect(),
            RowOp::DropNull(cols) => {
                for c in cols {
                    check_column(input, c)?;
                }
                input.fields().iter().map(|f| f.as_ref().clone()).collect()
            }
        };
        Ok(Arc::new(Schema::new(fields)))
    }

    /// This operation on one partition.
    pub(crate) fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.schema(&batch.schema())?;
        match self {
            RowOp::Select(exprs) => {
                let columns = exprs
                    .iter()
                    .map(|e| e.evaluate(batch))
                    .collect::<Result<Vec<_>>>()?;
                rebuild(schema, columns, batch.num_rows())
            }
            RowOp::Filter(p) => {
                let mask = p.evaluate(batch)?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| Error::Schema {
                        message: "filter needs a boolean expression".into(),
                    })?;
                arrow::compute::filter_record_batch(batch, mask).map_err(arrow_error)
            }
            RowOp::WithColumn(name, e) => {
                let values = e.evaluate(batch)?;
                let mut columns = batch.columns().to_vec();
                match batch.schema().index_of(name) {
                    Ok(i) => columns[i] = values,
                    Err(_) => columns.push(values),
                }
                rebuild(schema, columns, batch.num_rows())
            }
            RowOp::Rename(_) => rebuild(schema, batch.columns().to_vec(), batch.num_rows()),
            RowOp::FillNull(l) => {
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        if c.null_count() == 0 || !fits(l, c.data_type()) {
                            return Ok(c.clone());
                        }
                        let fill = arrow::compute::cast(&literal_array(l, 1), c.data_type())
                            .map_err(arrow_error)?;
                        let valid = arrow::compute::is_not_null(c).map_err(arrow_error)?;
                        arrow::compute::kernels::zip::zip(&valid, c, &Scalar::new(fill))
                            .map_err(arrow_error)
                    })
                    .collect::<Result<Vec<_>>>()?;
                rebuild(schema, columns, batch.num_rows())
            }
            RowOp::DropNull(cols) => {
                let considered =
                    |f: &arrow::datatypes::FieldRef| cols.is_empty() || cols.contains(f.name());
                let clean = batch
                    .columns()
                    .iter()
                    .zip(batch.schema().fields())
                    .all(|(c, f)| !considered(f) || c.null_count() == 0);
                if clean {
                    return Ok(batch.clone());
                }
                let mut keep: Option<BooleanArray> = None;
                for (c, f) in batch.columns().iter().zip(batch.schema().fields()) {
                    if !cols.is_empty() && !cols.contains(f.name()) {
                        continue;
                    }
                    let valid = arrow::compute::is_not_null(c).map_err(arrow_error)?;
                    keep = Some(match keep {
                        None => valid,
                        Some(k) => arrow::compute::and(&k, &valid).map_err(arrow_error)?,
                    });
                }
                match keep {
                    Some(mask) => {
                        arrow::compute::filter_record_batch(batch, &mask).map_err(arrow_error)
                    }
                    None => Ok(batch.clone()),
                }
            }
            RowOp::Drop(cols) => {
                let input = batch.schema();
                let columns = batch
                    .columns()
                    .iter()
                    .zip(input.fields())
                    .filter(|(_, f)| !cols.contains(f.name()))
                    .map(|(c, _)| c.clone())
                    .collect();
                rebuild(schema, columns, batch.num_rows())
            }
        }
    }
}

fn rebuild(
    schema: SchemaRef,
    columns: Vec<arrow::array::ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, columns, &options).map_err(arrow_error)
}
