//! Expressions over the columns of a partition, evaluated with arrow's compute kernels.
//!
//! Expressions are data (they implement serde), so they can travel to other processes; the
//! per-partition work is arrow's: arithmetic, comparison, boolean logic, casts and string
//! predicates. Before anything runs, [`Expr::data_type`] checks every column name and type
//! against the schema, so a mistake is reported when the query is written, not deep in a task.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, NullArray, RecordBatch,
    Scalar, StringArray,
};
use arrow::compute::kernels::{cmp, comparison, length, numeric};
use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use super::datetime::{DtExpr, DtOp};
use super::numeric_fns::NumOp;
use super::strings::{StrExpr, StrOp};
use crate::error::{Error, Result};

/// A literal value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// A null of no particular type.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(String),
    /// A length of time, in nanoseconds (`duration[ns]`): `Literal::from(Duration::from_secs(60))`.
    Duration(i64),
}

impl From<std::time::Duration> for Literal {
    /// Nanoseconds, saturating at `i64::MAX` (292 years).
    fn from(v: std::time::Duration) -> Self {
        Literal::Duration(i64::try_from(v.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Bool(v)
    }
}
impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Literal::Int(v)
    }
}
impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Literal::Int(v.into())
    }
}
impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Literal::Float(v)
    }
}
impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::Str(v.to_string())
    }
}
impl From<String> for Literal {
    fn from(v: String) -> Self {
        Literal::Str(v)
    }
}

/// A column type, by name, for [`Expr::cast`]: the pandas names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    /// `bool`
    Bool,
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint8`
    UInt8,
    /// `uint16`
    UInt16,
    /// `uint32`
    UInt32,
    /// `uint64`
    UInt64,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `string`
    String,
}

impl ColumnType {
    /// The arrow type.
    pub fn to_arrow(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int8 => DataType::Int8,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::UInt8 => DataType::UInt8,
            ColumnType::UInt16 => DataType::UInt16,
            ColumnType::UInt32 => DataType::UInt32,
            ColumnType::UInt64 => DataType::UInt64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::String => DataType::Utf8,
        }
    }
}

/// The pandas name of an arrow type: `int64`, `float64`, `string`, ...
pub fn dtype_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Null => "null".into(),
        DataType::Dictionary(_, _) => "category".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: true division, always `float64` as in pandas
    Div,
    /// `%`: the remainder with the divisor's sign, as Python's and NumPy's; null for an
    /// integer divided by zero
    Rem,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// logical and (SQL three-valued)
    And,
    /// logical or (SQL three-valued)
    Or,
}

/// An expression over a partition's columns.
///
/// ```
/// use partita_collections::{col, lit};
/// let adults = col("age").gt_eq(lit(18)).and(col("name").starts_with("S"));
/// let older = (col("age") + lit(1)).alias("next_year");
/// # let _ = (adults, older);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column by name.
    Column(String),
    /// A literal, repeated for every row.
    Literal(Literal),
    /// `left op right`.
    Binary {
        /// Left operand.
        left: Box<Expr>,
        /// The operator.
        op: BinaryOp,
        /// Right operand.
        right: Box<Expr>,
    },
    /// Logical not.
    Not(Box<Expr>),
    /// Whether each value is null.
    IsNull(Box<Expr>),
    /// A conversion to another type.
    Cast(Box<Expr>, ColumnType),
    /// The same values under another name.
    Alias(Box<Expr>, String),
    /// Whether each string contains the pattern.
    Contains(Box<Expr>, String),
    /// Whether each string starts with the prefix.
    StartsWith(Box<Expr>, String),
    /// The length of each string in characters.
    StrLen(Box<Expr>),
    /// Whether each value is one of the literals, as pandas' `isin`: never null; a null is in
    /// the list when the list holds null.
    IsIn(Box<Expr>, Vec<Literal>),
    /// `then` where `condition` holds, else `otherwise` ([`when`](super::when)).
    When {
        /// The condition; null counts as false.
        condition: Box<Expr>,
        /// The value where it holds.
        then: Box<Expr>,
        /// The value elsewhere.
        otherwise: Box<Expr>,
    },
    /// The first non-null value ([`coalesce`](super::coalesce)).
    Coalesce(Vec<Expr>),
    /// A numeric function ([`abs`](Self::abs), [`round`](Self::round), [`clip`](Self::clip)).
    Num(Box<Expr>, NumOp),
    /// A string method ([`str`](Self::str)).
    Str(Box<Expr>, StrOp),
    /// Strings parsed as times ([`to_datetime`](Self::to_datetime)), with a strptime-style
    /// format or as ISO 8601.
    ToDatetime(Box<Expr>, Option<String>),
    /// A date and time method ([`dt`](Self::dt)).
    Dt(Box<Expr>, DtOp),
}

/// A column by name.
pub fn col(name: &str) -> Expr {
    Expr::Column(name.to_string())
}

/// A literal value.
pub fn lit(v: impl Into<Literal>) -> Expr {
    Expr::Literal(v.into())
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("`self ", stringify!($name), " other`.")]
        pub fn $name(self, other: Expr) -> Expr {
            Expr::Binary { left: Box::new(self), op: BinaryOp::$op, right: Box::new(other) }
        }
    )*};
}

impl Expr {
    binary_methods!(
        eq => Eq, not_eq => NotEq, lt => Lt, lt_eq => LtEq, gt => Gt, gt_eq => GtEq,
        and => And, or => Or, modulo => Rem,
    );

    /// Whether each value lies between `lower` and `upper`, both included (pandas'
    /// `between`).
    pub fn between(self, lower: Expr, upper: Expr) -> Expr {
        self.clone().gt_eq(lower).and(self.lt_eq(upper))
    }

    /// The absolute value (integers wrap at their minimum, as in NumPy).
    pub fn abs(self) -> Expr {
        Expr::Num(Box::new(self), NumOp::Abs)
    }

    /// Rounded to `decimals` places, half to even as NumPy's `round` (`round(2.5)` is 2;
    /// negative `decimals` round to tens, hundreds, ...).
    pub fn round(self, decimals: i32) -> Expr {
        Expr::Num(Box::new(self), NumOp::Round(decimals))
    }

    /// Bounded below by `lower` and above by `upper`; [`Literal::Null`] is no bound, and NaN
    /// stays NaN (pandas' `clip`). A float bound makes the result `float64`.
    ///
    /// ```
    /// use partita_collections::{col, Literal};
    /// let pct = col("p").clip(0, 100);
    /// let floor = col("x").clip(0.0, Literal::Null);
    /// # let _ = (pct, floor);
    /// ```
    pub fn clip(self, lower: impl Into<Literal>, upper: impl Into<Literal>) -> Expr {
        Expr::Num(
            Box::new(self),
            NumOp::Clip {
                lower: lower.into(),
                upper: upper.into(),
            },
        )
    }

    /// The value, or `value` where it is null: pandas' `fillna` for one column. (NaN is a
    /// float, not a null, in Arrow: it stays.)
    pub fn fill_null(self, value: impl Into<Literal>) -> Expr {
        Expr::Coalesce(vec![self, Expr::Literal(value.into())])
    }

    /// The string methods: pandas' `.str` ([`StrExpr`]).
    pub fn str(self) -> StrExpr {
        StrExpr(self)
    }

    /// The strings parsed as times (`timestamp[ns]`), as `pd.to_datetime`: with a
    /// strptime-style `format` (`"%m/%d/%Y"`; a format without a time reads midnight), or as
    /// ISO 8601 (`2017-06-14`, `2017-06-14T13:45:10`) without one. A string that does not
    /// parse fails the task, naming it and the format; null stays null. Times pass through.
    pub fn to_datetime(self, format: Option<&str>) -> Expr {
        Expr::ToDatetime(Box::new(self), format.map(str::to_string))
    }

    /// The date and time methods: pandas' `.dt` ([`DtExpr`]).
    pub fn dt(self) -> DtExpr {
        DtExpr(self)
    }

    /// Whether each value is null.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }

    /// Whether each value is one of `values` (pandas' `isin`). The values must fit the
    /// operand's type, which [`data_type`](Self::data_type) checks when the query is built: a
    /// string among the values of an integer column is an error, not a silent "no". A number
    /// the column's type cannot hold exactly (2.5 for integers) matches no row. The result is
    /// never null: a null is in the list when the list holds [`Literal::Null`].
    ///
    /// ```
    /// use partita_collections::{col, lit, Literal};
    /// let picked = col("id").isin([1, 5, 7]);
    /// let named = col("name").isin(["Ann", "Bob"]);
    /// let with_nulls = col("id").isin([Literal::Int(1), Literal::Null]);
    /// # let _ = (picked, named, with_nulls, lit(0));
    /// ```
    pub fn isin<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Expr {
        Expr::IsIn(Box::new(self), values.into_iter().map(Into::into).collect())
    }

    /// The values converted to `dtype`.
    pub fn cast(self, dtype: ColumnType) -> Expr {
        Expr::Cast(Box::new(self), dtype)
    }

    /// The same values named `name`.
    pub fn alias(self, name: &str) -> Expr {
        Expr::Alias(Box::new(self), name.to_string())
    }

    /// Whether each string contains `pattern`.
    pub fn contains(self, pattern: &str) -> Expr {
        Expr::Contains(Box::new(self), pattern.to_string())
    }

    /// Whether each string starts with `prefix`.
    pub fn starts_with(self, prefix: &str) -> Expr {
        Expr::StartsWith(Box::new(self), prefix.to_string())
    }

    /// The length of each string, in characters.
    pub fn str_len(self) -> Expr {
        Expr::StrLen(Box::new(self))
    }

    /// The output column's name: the column's own name, the alias, or for anything else a
    /// description of the expression.
    pub fn name(&self) -> String {
        match self {
            Expr::Column(c) => c.clone(),
            Expr::Alias(_, a) => a.clone(),
            Expr::Literal(l) => format!("{l:?}"),
            Expr::Binary { left, .. } => left.name(),
            Expr::Not(e)
            | Expr::IsNull(e)
            | Expr::Cast(e, _)
            | Expr::Contains(e, _)
            | Expr::StartsWith(e, _)
            | Expr::StrLen(e)
            | Expr::IsIn(e, _)
            | Expr::Num(e, _)
            | Expr::Str(e, _)
            | Expr::ToDatetime(e, _)
            | Expr::Dt(e, _) => e.name(),
            Expr::When { then, .. } => then.name(),
            Expr::Coalesce(es) => es.first().map_or_else(|| "coalesce".into(), Expr::name),
        }
    }

    /// The type of the result over `schema`.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column or operands of the wrong types.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        Ok(match self {
            Expr::Column(c) => schema
                .field_with_name(c)
                .map_err(|_| unknown_column(c, schema))?
                .data_type()
                .clone(),
            Expr::Literal(l) => literal_type(l),
            Expr::Binary { left, op, right } => {
                let (l, r) = (left.data_type(schema)?, right.data_type(schema)?);
                if let Some(t) = time_arithmetic(*op, &l, &r) {
                    return Ok(t);
                }
                match op {
                    BinaryOp::Div if numeric_type(&l, &r).is_some() => DataType::Float64,
                    BinaryOp::Rem if l.is_integer() && r.is_integer() => DataType::Int64,
                    BinaryOp::Rem if numeric_type(&l, &r).is_some() => DataType::Float64,
                    BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Rem => numeric_type(&l, &r).ok_or_else(|| {
                        schema_error(format!(
                            "cannot apply {op:?} to {} and {}",
                            dtype_name(&l),
                            dtype_name(&r)
                        ))
                    })?,
                    BinaryOp::And | BinaryOp::Or => {
                        for t in [&l, &r] {
                            if !matches!(t, DataType::Boolean | DataType::Null) {
                                return Err(schema_error(format!(
                                    "{op:?} needs booleans, not {}",
                                    dtype_name(t)
                                )));
                            }
                        }
                        DataType::Boolean
                    }
                    _ => {
                        let Some(t) = comparison_type(&l, &r) else {
                            return Err(schema_error(format!(
                                "cannot compare {} with {}",
                                dtype_name(&l),
                                dtype_name(&r)
                            )));
                        };
                        // A string compared with a time must read as one.
                        for (side, other) in [(&**left, &**right), (&**right, &**left)] {
                            if let Expr::Literal(Literal::Str(text)) = side {
                                if super::datetime::is_time(&t) {
                                    check_time_text(text, &t, other)?;
                                }
                            }
                        }
                        DataType::Boolean
                    }
                }
            }
            Expr::Not(e) => {
                let t = e.data_type(schema)?;
                if !matches!(t, DataType::Boolean | DataType::Null) {
                    return Err(schema_error(format!(
                        "not needs booleans, not {}",
                        dtype_name(&t)
                    )));
                }
                DataType::Boolean
            }
            Expr::IsNull(e) => {
                e.data_type(schema)?;
                DataType::Boolean
            }
            Expr::Cast(e, d) => {
                e.data_type(schema)?;
                d.to_arrow()
            }
            Expr::Alias(e, _) => e.data_type(schema)?,
            Expr::Contains(e, _) | Expr::StartsWith(e, _) => {
                string_operand(e, schema)?;
                DataType::Boolean
            }
            Expr::StrLen(e) => {
                string_operand(e, schema)?;
                DataType::Int32
            }
            Expr::IsIn(e, values) => {
                let t = e.data_type(schema)?;
                if let Some(v) = values.iter().find(|v| !literal_fits(v, &t)) {
                    return Err(schema_error(format!(
                        "isin: {} is {}, but the value {v:?} is {}",
                        e.name(),
                        dtype_name(&t),
                        dtype_name(&literal_type(v))
                    )));
                }
                DataType::Boolean
            }
            Expr::When {
                condition,
                then,
                otherwise,
            } => {
                let c = condition.data_type(schema)?;
                if !matches!(c, DataType::Boolean | DataType::Null) {
                    return Err(schema_error(format!(
                        "when needs a boolean condition, not {}",
                        dtype_name(&c)
                    )));
                }
                let types = [then.data_type(schema)?, otherwise.data_type(schema)?];
                super::conditional::common_type(&types, "when")?
            }
            Expr::Coalesce(es) => {
                if es.is_empty() {
                    return Err(schema_error(
                        "coalesce needs at least one expression".into(),
                    ));
                }
                let types = es
                    .iter()
                    .map(|e| e.data_type(schema))
                    .collect::<Result<Vec<_>>>()?;
                super::conditional::common_type(&types, "coalesce")?
            }
            Expr::Num(e, op) => {
                let t = e.data_type(schema)?;
                op.data_type(&t)
                    .map_err(|m| schema_error(format!("{}: {m}", e.name())))?
            }
            Expr::ToDatetime(e, format) => {
                let t = e.data_type(schema)?;
                let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Null);
                if !text && !super::datetime::is_time(&t) {
                    return Err(schema_error(format!(
                        "to_datetime reads strings, and {} is {}",
                        e.name(),
                        dtype_name(&t)
                    )));
                }
                if let Some(f) = format {
                    super::datetime::check_format(f)?;
                }
                DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None)
            }
            Expr::Dt(e, op) => {
                let t = e.data_type(schema)?;
                if let DtOp::Strftime(f) = op {
                    super::datetime::check_format(f)?;
                }
                op.data_type(&t)
                    .map_err(|m| schema_error(format!("{} {m}", e.name())))?
            }
            Expr::Str(e, op) => {
                text_operand(e, schema)?;
                op.check()?;
                if let StrOp::Cat { other, .. } = op {
                    text_operand(other, schema)?;
                }
                if op.is_predicate() {
                    DataType::Boolean
                } else {
                    DataType::Utf8
                }
            }
        })
    }

    /// The values of this expression over `batch`, one per row.
    ///
    /// # Errors
    /// As [`data_type`](Self::data_type), or an arrow error from a kernel (a failed cast, say).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let rows = batch.num_rows();
        Ok(match self {
            Expr::Column(c) => batch
                .column_by_name(c)
                .cloned()
                .ok_or_else(|| unknown_column(c, &batch.schema()))?,
            Expr::Literal(l) => literal_array(l, rows),
            Expr::Binary { left, op, right } => {
                let (l, r) = (left.evaluate(batch)?, right.evaluate(batch)?);
                binary(&l, *op, &r)?
            }
            Expr::Not(e) => {
                let v = as_bool(&e.evaluate(batch)?)?;
                Arc::new(arrow::compute::not(&v).map_err(arrow_error)?)
            }
            Expr::IsNull(e) => {
                Arc::new(arrow::compute::is_null(&e.evaluate(batch)?).map_err(arrow_error)?)
            }
            // A value that does not convert is an error, never a silent null; it names the
            // column.
            Expr::Cast(e, d) => arrow::compute::cast_with_options(
                &e.evaluate(batch)?,
                &d.to_arrow(),
                &arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )
            .map_err(|err| {
                arrow_error(match err {
                    arrow::error::ArrowError::CastError(m) => arrow::error::ArrowError::CastError(
                        format!("cast of {} to {}: {m}", e.name(), dtype_name(&d.to_arrow())),
                    ),
                    other => other,
                })
            })?,
            Expr::Alias(e, _) => e.evaluate(batch)?,
            Expr::Contains(e, p) => string_predicate(&e.evaluate(batch)?, p, true)?,
            Expr::StartsWith(e, p) => string_predicate(&e.evaluate(batch)?, p, false)?,
            Expr::StrLen(e) => {
                let v = e.evaluate(batch)?;
                match v.as_any().downcast_ref::<StringArray>() {
                    // arrow's `length` counts bytes; count characters where they differ.
                    Some(s) if !s.values().is_ascii() => Arc::new(Int32Array::from_iter(
                        s.iter().map(|x| x.map(|x| x.chars().count() as i32)),
                    )),
                    _ => length::length(&v).map_err(arrow_error)?,
                }
            }
            Expr::IsIn(e, values) => is_in(&e.evaluate(batch)?, values)?,
            Expr::When {
                condition,
                then,
                otherwise,
            } => super::conditional::choose(
                &condition.evaluate(batch)?,
                &then.evaluate(batch)?,
                &otherwise.evaluate(batch)?,
            )?,
            Expr::Coalesce(es) => {
                let values = es
                    .iter()
                    .map(|e| e.evaluate(batch))
                    .collect::<Result<Vec<_>>>()?;
                super::conditional::first_valid(&values)?
            }
            Expr::Num(e, op) => super::numeric_fns::evaluate(&e.evaluate(batch)?, op)?,
            Expr::ToDatetime(e, format) => {
                super::datetime::to_datetime(&e.evaluate(batch)?, format.as_deref())?
            }
            Expr::Dt(e, op) => super::datetime::evaluate(&e.evaluate(batch)?, op)?,
            Expr::Str(e, op) => {
                let other = match op {
                    StrOp::Cat { other, .. } => Some(other.evaluate(batch)?),
                    _ => None,
                };
                super::strings::evaluate(&e.evaluate(batch)?, op, other.as_ref())?
            }
        })
    }
}

/// Whether a literal can be compared with values of type `t`: numbers with numbers, strings
/// with strings and times, booleans with booleans, and null with anything.
pub(crate) fn literal_fits(l: &Literal, t: &DataType) -> bool {
    let text = |t: &DataType| match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(**v, DataType::Utf8 | DataType::LargeUtf8),
        _ => false,
    };
    match l {
        Literal::Null => true,
        _ if t == &DataType::Null => true,
        Literal::Bool(_) => t == &DataType::Boolean,
        Literal::Str(_) => text(t) || t.is_temporal(),
        Literal::Int(_) | Literal::Float(_) => is_numeric(t),
        Literal::Duration(_) => matches!(t, DataType::Duration(_)),
    }
}

/// The list lengths up to which `isin` compares value by value; longer lists use a hash set.
const ISIN_SCAN: usize = 8;

/// Pandas' `isin` over `v`: the literals cast to `v`'s type, those that do not cast exactly
/// dropped (they match nothing), and nulls matching nulls when the list holds one.
fn is_in(v: &ArrayRef, values: &[Literal]) -> Result<ArrayRef> {
    let t = v.data_type();
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut keys: Vec<ArrayRef> = Vec::new();
    let mut null = false;
    for l in values {
        if matches!(l, Literal::Null) {
            null = true;
            continue;
        }
        let given = literal_array(l, 1);
        let Ok(key) = arrow::compute::cast_with_options(&given, t, &strict) else {
            continue;
        };
        // 2.5 cast to an integer type comes back as 2: it matches nothing.
        let back = arrow::compute::cast(&key, given.data_type());
        let exact =
            matches!(l, Literal::Str(_)) || back.is_ok_and(|b| b.as_ref() == given.as_ref());
        if exact {
            keys.push(key);
        }
    }
    let mut hit = if keys.len() <= ISIN_SCAN {
        let mut hit = BooleanArray::from(vec![false; v.len()]);
        for key in &keys {
            let eq = cmp::eq(v, &Scalar::new(key.clone())).map_err(arrow_error)?;
            hit = arrow::compute::or(&hit, &eq).map_err(arrow_error)?;
        }
        hit
    } else {
        let list = arrow::compute::concat(&keys.iter().map(AsRef::as_ref).collect::<Vec<_>>())
            .map_err(arrow_error)?;
        let fields = vec![arrow::row::SortField::new(t.clone())];
        let converter = arrow::row::RowConverter::new(fields).map_err(arrow_error)?;
        let wanted = converter.convert_columns(&[list]).map_err(arrow_error)?;
        let set: foldhash::HashSet<&[u8]> = wanted.iter().map(|r| r.data()).collect();
        let rows = converter
            .convert_columns(std::slice::from_ref(v))
            .map_err(arrow_error)?;
        rows.iter().map(|r| Some(set.contains(r.data()))).collect()
    };
    // Nulls are in the list or not; a null never answers null.
    let nulls = arrow::compute::is_null(v).map_err(arrow_error)?;
    // (Kleene logic: a null comparison or'ed with true is true, and'ed with false is false.)
    hit = match null {
        true => arrow::compute::or_kleene(&hit, &nulls),
        false => {
            arrow::compute::and_kleene(&hit, &arrow::compute::not(&nulls).map_err(arrow_error)?)
        }
    }
    .map_err(arrow_error)?;
    Ok(Arc::new(hit))
}

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

impl std::ops::Rem for Expr {
    type Output = Expr;
    fn rem(self, rhs: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(self),
            op: BinaryOp::Rem,
            right: Box::new(rhs),
        }
    }
}

impl std::ops::Add for Expr {
    type Output = Expr;
    fn add(self, rhs: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(self),
            op: BinaryOp::Add,
            right: Box::new(rhs),
        }
    }
}
impl std::ops::Sub for Expr {
    type Output = Expr;
    fn sub(self, rhs: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(self),
            op: BinaryOp::Sub,
            right: Box::new(rhs),
        }
    }
}
impl std::ops::Mul for Expr {
    type Output = Expr;
    fn mul(self, rhs: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(self),
            op: BinaryOp::Mul,
            right: Box::new(rhs),
        }
    }
}
impl std::ops::Div for Expr {
    type Output = Expr;
    fn div(self, rhs: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(self),
            op: BinaryOp::Div,
            right: Box::new(rhs),
        }
    }
}

fn schema_error(message: String) -> Error {
    Error::Schema { message }
}

fn unknown_column(name: &str, schema: &Schema) -> Error {
    let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    schema_error(format!("no column {name:?}; the columns are {have:?}"))
}

pub(crate) fn arrow_error(e: arrow::error::ArrowError) -> Error {
    Error::from(e)
}

pub(crate) fn literal_type(l: &Literal) -> DataType {
    match l {
        Literal::Null => DataType::Null,
        Literal::Bool(_) => DataType::Boolean,
        Literal::Int(_) => DataType::Int64,
        Literal::Float(_) => DataType::Float64,
        Literal::Str(_) => DataType::Utf8,
        Literal::Duration(_) => DataType::Duration(arrow::datatypes::TimeUnit::Nanosecond),
    }
}

pub(crate) fn literal_array(l: &Literal, rows: usize) -> ArrayRef {
    match l {
        Literal::Null => Arc::new(NullArray::new(rows)),
        Literal::Bool(b) => Arc::new(BooleanArray::from(vec![*b; rows])),
        Literal::Int(i) => Arc::new(Int64Array::from_value(*i, rows)),
        Literal::Float(f) => Arc::new(Float64Array::from_value(*f, rows)),
        Literal::Str(s) => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, rows))),
        Literal::Duration(ns) => {
            Arc::new(arrow::array::DurationNanosecondArray::from_value(*ns, rows))
        }
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating()
}

/// The type both sides of an arithmetic operator are cast to.
fn numeric_type(l: &DataType, r: &DataType) -> Option<DataType> {
    if !is_numeric(l) || !is_numeric(r) {
        return None;
    }
    Some(if l == r {
        l.clone()
    } else if is_integer(l) && is_integer(r) {
        DataType::Int64
    } else {
        DataType::Float64
    })
}

/// The type both sides of a comparison are cast to.
fn comparison_type(l: &DataType, r: &DataType) -> Option<DataType> {
    if l == r {
        return Some(l.clone());
    }
    if let Some(t) = numeric_type(l, r) {
        return Some(t);
    }
    let time = super::datetime::is_time;
    match (l, r) {
        (DataType::Null, t) | (t, DataType::Null) => Some(t.clone()),
        // A time against a string: the string is read as a time (ISO 8601), as pandas does.
        (t, DataType::Utf8) | (DataType::Utf8, t) if time(t) => Some(t.clone()),
        // Dates and times without a zone compare as nanoseconds.
        (a, b) if time(a) && time(b) && !zoned(a) && !zoned(b) => Some(NANOS),
        _ => None,
    }
}

/// `timestamp[ns]` without a zone: what dates and times compute as.
const NANOS: DataType = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);

fn zoned(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(_)))
}

/// The result of `l op r` when they are dates, times or durations: a time plus or minus a
/// duration is a time, a time minus a time a duration, durations add up; all in nanoseconds.
/// `None` for other operands.
fn time_arithmetic(op: BinaryOp, l: &DataType, r: &DataType) -> Option<DataType> {
    use arrow::datatypes::TimeUnit::Nanosecond;
    let zone = |t: &DataType| match t {
        DataType::Timestamp(_, tz) => Some(tz.clone()),
        DataType::Date32 | DataType::Date64 => Some(None),
        _ => None,
    };
    let duration = |t: &DataType| matches!(t, DataType::Duration(_));
    match op {
        BinaryOp::Add | BinaryOp::Sub => {}
        _ => return None,
    }
    match (zone(l), zone(r)) {
        (Some(tz), None) if duration(r) => Some(DataType::Timestamp(Nanosecond, tz)),
        (None, Some(tz)) if duration(l) && op == BinaryOp::Add => {
            Some(DataType::Timestamp(Nanosecond, tz))
        }
        (Some(_), Some(_)) if op == BinaryOp::Sub => Some(DataType::Duration(Nanosecond)),
        (None, None) if duration(l) && duration(r) => Some(DataType::Duration(Nanosecond)),
        _ => None,
    }
}

/// `l op r` for dates, times and durations ([`time_arithmetic`]), by arrow's kernels on
/// nanoseconds.
fn time_binary(l: &ArrayRef, op: BinaryOp, r: &ArrayRef) -> Result<ArrayRef> {
    use arrow::datatypes::TimeUnit::Nanosecond;
    let nanos = |a: &ArrayRef| -> Result<ArrayRef> {
        let t = match a.data_type() {
            DataType::Timestamp(_, tz) => DataType::Timestamp(Nanosecond, tz.clone()),
            DataType::Duration(_) => DataType::Duration(Nanosecond),
            _ => NANOS,
        };
        arrow::compute::cast(a, &t).map_err(arrow_error)
    };
    let (l, r) = (nanos(l)?, nanos(r)?);
    match op {
        BinaryOp::Add => numeric::add(&l, &r),
        _ => numeric::sub(&l, &r),
    }
    .map_err(arrow_error)
}

/// Refuses a string that does not read as a time of type `t`, compared with `other`.
fn check_time_text(text: &str, t: &DataType, other: &Expr) -> Result<()> {
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let one: ArrayRef = Arc::new(StringArray::from(vec![text]));
    arrow::compute::cast_with_options(&one, t, &strict)
        .map(drop)
        .map_err(|e| {
            schema_error(format!(
                "{} is {}, and {text:?} does not read as one: {e}",
                other.name(),
                dtype_name(t)
            ))
        })
}

/// Checks that `e` is strings, also dictionary-encoded ones (which the `.str` methods decode).
fn text_operand(e: &Expr, schema: &Schema) -> Result<()> {
    match e.data_type(schema)? {
        DataType::Dictionary(_, v) if matches!(*v, DataType::Utf8 | DataType::LargeUtf8) => Ok(()),
        _ => string_operand(e, schema),
    }
}

fn string_operand(e: &Expr, schema: &Schema) -> Result<()> {
    let t = e.data_type(schema)?;
    if !matches!(t, DataType::Utf8 | DataType::LargeUtf8) {
        return Err(schema_error(format!(
            "{} is {}, not a string",
            e.name(),
            dtype_name(&t)
        )));
    }
    Ok(())
}

fn as_bool(a: &ArrayRef) -> Result<BooleanArray> {
    let b = arrow::compute::cast(a, &DataType::Boolean).map_err(arrow_error)?;
    b.as_any()
        .downcast_ref::<BooleanArray>()
        .cloned()
        .ok_or_else(|| schema_error("expected booleans".into()))
}

fn binary(l: &ArrayRef, op: BinaryOp, r: &ArrayRef) -> Result<ArrayRef> {
    let cast = |a: &ArrayRef, t: &DataType| arrow::compute::cast(a, t).map_err(arrow_error);
    if time_arithmetic(op, l.data_type(), r.data_type()).is_some() {
        return time_binary(l, op, r);
    }
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let (l, r) = (as_bool(l)?, as_bool(r)?);
            let out = match op {
                BinaryOp::And => arrow::compute::and_kleene(&l, &r),
                _ => arrow::compute::or_kleene(&l, &r),
            };
            Ok(Arc::new(out.map_err(arrow_error)?))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            let t = numeric_type(l.data_type(), r.data_type()).ok_or_else(|| {
                schema_error(format!(
                    "cannot apply {op:?} to {} and {}",
                    dtype_name(l.data_type()),
                    dtype_name(r.data_type())
                ))
            })?;
            // `/` is true division, as in pandas: always float64.
            let t = if op == BinaryOp::Div {
                DataType::Float64
            } else {
                t
            };
            let t = match (op, t.is_integer()) {
                (BinaryOp::Rem, true) => DataType::Int64,
                (BinaryOp::Rem, false) => DataType::Float64,
                _ => t,
            };
            let (l, r) = (cast(l, &t)?, cast(r, &t)?);
            if op == BinaryOp::Rem {
                return super::numeric_fns::remainder(&l, &r);
            }
            let out = match op {
                BinaryOp::Add => numeric::add(&l, &r),
                BinaryOp::Sub => numeric::sub(&l, &r),
                BinaryOp::Mul => numeric::mul(&l, &r),
                _ => numeric::div(&l, &r),
            };
            out.map_err(arrow_error)
        }
        _ => {
            let t = comparison_type(l.data_type(), r.data_type()).ok_or_else(|| {
                schema_error(format!(
                    "cannot compare {} with {}",
                    dtype_name(l.data_type()),
                    dtype_name(r.data_type())
                ))
            })?;
            let (l, r) = (cast(l, &t)?, cast(r, &t)?);
            let out = match op {
                BinaryOp::Eq => cmp::eq(&l, &r),
                BinaryOp::NotEq => cmp::neq(&l, &r),
                BinaryOp::Lt => cmp::lt(&l, &r),
                BinaryOp::LtEq => cmp::lt_eq(&l, &r),
                BinaryOp::Gt => cmp::gt(&l, &r),
                _ => cmp::gt_eq(&l, &r),
            };
            Ok(Arc::new(out.map_err(arrow_error)?))
        }
    }
}

fn string_predicate(v: &ArrayRef, pattern: &str, contains: bool) -> Result<ArrayRef> {
    let pattern = Scalar::new(StringArray::from(vec![pattern]));
    let out = if contains {
        comparison::contains(v, &pattern)
    } else {
        comparison::starts_with(v, &pattern)
    };
    Ok(Arc::new(out.map_err(arrow_error)?))
}
