//! Choosing between expressions row by row: `when(..).then(..).otherwise(..)` (NumPy's
//! `where`) and `coalesce` (pandas' `fillna` with another column), with one result type.

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::DataType;

use super::expr::{arrow_error, dtype_name, Expr};
use crate::error::{Error, Result};

/// The first part of a conditional: [`when`]`(condition)`. Give it the value where the
/// condition holds with [`then`](When::then).
#[derive(Clone, Debug)]
pub struct When {
    condition: Expr,
}

/// A conditional awaiting the value where its condition does not hold: give it with
/// [`otherwise`](Then::otherwise).
#[derive(Clone, Debug)]
pub struct Then {
    condition: Expr,
    then: Expr,
}

/// `then` where `condition` holds, `otherwise` where it is false or null: NumPy's
/// `where(condition, then, otherwise)`. Nest another `when` in `otherwise` for more cases.
///
/// ```
/// use partita_collections::{col, lit, when};
/// let size = when(col("n").lt(lit(10)))
///     .then(lit("small"))
///     .otherwise(when(col("n").lt(lit(100))).then(lit("medium")).otherwise(lit("large")));
/// # let _ = size;
/// ```
pub fn when(condition: Expr) -> When {
    When { condition }
}

impl When {
    /// The value where the condition holds.
    pub fn then(self, value: Expr) -> Then {
        Then {
            condition: self.condition,
            then: value,
        }
    }
}

impl Then {
    /// The value where the condition is false or null.
    pub fn otherwise(self, value: Expr) -> Expr {
        Expr::When {
            condition: Box::new(self.condition),
            then: Box::new(self.then),
            otherwise: Box::new(value),
        }
    }
}

/// The first of `exprs` that is not null, row by row: `coalesce(a, b, c)`. For one column and
/// a literal, [`Expr::fill_null`].
///
/// ```
/// use partita_collections::{coalesce, col, lit};
/// let phone = coalesce([col("mobile"), col("home"), lit("unknown")]);
/// # let _ = phone;
/// ```
pub fn coalesce(exprs: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Coalesce(exprs.into_iter().collect())
}

/// The one type of values chosen from several expressions: their type where they agree, a
/// common numeric type, or the other type where one is null.
pub(crate) fn common_type(types: &[DataType], what: &str) -> Result<DataType> {
    let mut out = DataType::Null;
    for t in types {
        let numeric = |t: &DataType| t.is_integer() || t.is_floating();
        out = match (&out, t) {
            (a, b) if a == b => a.clone(),
            (DataType::Null, b) => b.clone(),
            (a, DataType::Null) => a.clone(),
            (a, b) if a.is_integer() && b.is_integer() => DataType::Int64,
            (a, b) if numeric(a) && numeric(b) => DataType::Float64,
            (a, b) => {
                return Err(Error::Schema {
                    message: format!(
                        "{what} chooses between {} and {}, which have no common type",
                        dtype_name(a),
                        dtype_name(b)
                    ),
                })
            }
        };
    }
    Ok(out)
}

/// `then` where `condition` is true, `otherwise` elsewhere.
pub(crate) fn choose(
    condition: &ArrayRef,
    then: &ArrayRef,
    otherwise: &ArrayRef,
) -> Result<ArrayRef> {
    let t = common_type(
        &[then.data_type().clone(), otherwise.data_type().clone()],
        "when",
    )?;
    let cast = |a: &ArrayRef| arrow::compute::cast(a, &t).map_err(arrow_error);
    let mask = condition
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::Schema {
            message: format!(
                "when needs a boolean condition, not {}",
                dtype_name(condition.data_type())
            ),
        })?;
    // A null condition chooses `otherwise`.
    let mask = match mask.null_count() {
        0 => mask.clone(),
        _ => arrow::compute::prep_null_mask_filter(mask),
    };
    arrow::compute::kernels::zip::zip(&mask, &cast(then)?, &cast(otherwise)?).map_err(arrow_error)
}

/// The first non-null of `values`, row by row.
pub(crate) fn first_valid(values: &[ArrayRef]) -> Result<ArrayRef> {
    let types: Vec<DataType> = values.iter().map(|v| v.data_type().clone()).collect();
    let t = common_type(&types, "coalesce")?;
    let mut values = values.iter();
    let Some(first) = values.next() else {
        return Err(Error::Schema {
            message: "coalesce needs at least one expression".into(),
        });
    };
    let mut out = arrow::compute::cast(first, &t).map_err(arrow_error)?;
    for v in values {
        if out.null_count() == 0 {
            break;
        }
        let v = arrow::compute::cast(v, &t).map_err(arrow_error)?;
        let valid = arrow::compute::is_not_null(&out).map_err(arrow_error)?;
        out = arrow::compute::kernels::zip::zip(&valid, &out, &v).map_err(arrow_error)?;
    }
    Ok(out)
}
