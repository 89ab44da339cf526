//! Dates and times in expressions: `to_datetime` from strings (a strptime-style format, as
//! `pd.to_datetime(format=...)` takes, or ISO 8601), and the `.dt` namespace: calendar fields,
//! flooring to a unit, and `strftime`.
//!
//! Parsed times are `timestamp[ns]` without a time zone, as pandas' `datetime64[ns]`. The
//! fields of a time zone-aware timestamp are those of its zone's local time; the floors and
//! `strftime` of such a timestamp work on UTC.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, TimestampNanosecondArray};
use arrow::compute::kernels::temporal::{date_part, DatePart};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, dtype_name, Expr};
use crate::error::{Error, Result};

/// A calendar or clock field of a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DtField {
    /// The year.
    Year,
    /// The quarter, 1 to 4.
    Quarter,
    /// The month, 1 to 12.
    Month,
    /// The day of the month, from 1.
    Day,
    /// The hour, 0 to 23.
    Hour,
    /// The minute, 0 to 59.
    Minute,
    /// The second, 0 to 59.
    Second,
    /// The day of the week, Monday 0 to Sunday 6 (pandas' `weekday`).
    Weekday,
    /// The day of the year, from 1.
    DayOfYear,
}

/// A unit to floor times to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DtUnit {
    /// The second.
    Second,
    /// The minute.
    Minute,
    /// The hour.
    Hour,
    /// The day (midnight).
    Day,
    /// The first day of the month.
    Month,
    /// The first day of the year.
    Year,
}

/// An operation of the `.dt` namespace ([`DtExpr`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DtOp {
    /// A field, as `int32`.
    Field(DtField),
    /// The time floored to a unit, of the same type.
    Floor(DtUnit),
    /// The time floored to a multiple of this many nanoseconds since the epoch, of the same
    /// type.
    FloorEvery(i64),
    /// The time formatted with a strftime-style format.
    Strftime(String),
}

/// Whether values of type `t` are dates or times the `.dt` namespace reads.
pub(crate) fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

impl DtOp {
    /// The result's type for an operand of type `t`, or why there is none.
    pub(crate) fn data_type(&self, t: &DataType) -> std::result::Result<DataType, String> {
        if !is_time(t) {
            return Err(format!("is {}, not a date or a time", dtype_name(t)));
        }
        Ok(match self {
            DtOp::Field(_) => DataType::Int32,
            DtOp::Floor(_) => t.clone(),
            DtOp::FloorEvery(n) if *n <= 0 => {
                return Err(format!(
                    "cannot floor to a multiple of {n} ns; the step must be positive"
                ))
            }
            DtOp::FloorEvery(_) => t.clone(),
            DtOp::Strftime(_) => DataType::Utf8,
        })
    }
}

/// The `.dt` namespace of an expression, as pandas' `Series.dt`. Made by [`Expr::dt`].
///
/// ```
/// use partita_collections::{col, DtUnit};
/// let when = col("issued").to_datetime(Some("%m/%d/%Y"));
/// let month = when.clone().dt().floor(DtUnit::Month);
/// let label = when.clone().dt().strftime("%Y-%m");
/// let weekday = when.dt().weekday();
/// # let _ = (month, label, weekday);
/// ```
#[derive(Clone, Debug)]
pub struct DtExpr(pub(crate) Expr);

macro_rules! fields {
    ($($name:ident => $field:ident: $doc:literal),* $(,)?) => {$(
        #[doc = $doc]
        pub fn $name(self) -> Expr {
            self.op(DtOp::Field(DtField::$field))
        }
    )*};
}

impl DtExpr {
    fn op(self, op: DtOp) -> Expr {
        Expr::Dt(Box::new(self.0), op)
    }

    fields!(
        year => Year: "The year (`int32`).",
        quarter => Quarter: "The quarter, 1 to 4.",
        month => Month: "The month, 1 to 12.",
        day => Day: "The day of the month, from 1.",
        hour => Hour: "The hour, 0 to 23.",
        minute => Minute: "The minute, 0 to 59.",
        second => Second: "The second, 0 to 59.",
        weekday => Weekday: "The day of the week, Monday 0 to Sunday 6, as pandas' `weekday`.",
        dayofyear => DayOfYear: "The day of the year, from 1.",
    );

    /// The time floored to `unit`: pandas' `dt.floor` for seconds to days, and the start of
    /// the month or year (`dt.to_period(..).dt.start_time`) for the calendar units.
    pub fn floor(self, unit: DtUnit) -> Expr {
        self.op(DtOp::Floor(unit))
    }

    /// The time floored to a multiple of `step` since the epoch (`1970-01-01`), as pandas'
    /// `dt.floor("15min")`: `col("t").dt().floor_every(Duration::from_secs(900))`. A zero step
    /// is refused when the query is written.
    pub fn floor_every(self, step: std::time::Duration) -> Expr {
        let n = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX);
        self.op(DtOp::FloorEvery(n))
    }

    /// The time as text, in a strftime-style format (chrono's, which takes Python's common
    /// directives: `%Y-%m-%d %H:%M:%S`, `%b`, `%a`, `%j`, ...).
    pub fn strftime(self, format: &str) -> Expr {
        self.op(DtOp::Strftime(format.to_string()))
    }
}

/// `op` over the times of `v`.
pub(crate) fn evaluate(v: &ArrayRef, op: &DtOp) -> Result<ArrayRef> {
    op.data_type(v.data_type())
        .map_err(|m| Error::Schema { message: m })?;
    match op {
        DtOp::Field(f) => {
            let part = match f {
                DtField::Year => DatePart::Year,
                DtField::Quarter => DatePart::Quarter,
                DtField::Month => DatePart::Month,
                DtField::Day => DatePart::Day,
                DtField::Hour => DatePart::Hour,
                DtField::Minute => DatePart::Minute,
                DtField::Second => DatePart::Second,
                DtField::Weekday => DatePart::DayOfWeekMonday0,
                DtField::DayOfYear => DatePart::DayOfYear,
            };
            date_part(v.as_ref(), part).map_err(arrow_error)
        }
        DtOp::Floor(unit) => floor(v, *unit),
        DtOp::FloorEvery(n) => {
            let step = *n;
            let floored: TimestampNanosecondArray =
                nanos(v)?.unary(|ns: i64| ns.div_euclid(step) * step);
            back_to(Arc::new(floored), v.data_type())
        }
        DtOp::Strftime(format) => {
            check_format(format)?;
            let times = nanos(v)?;
            let out: StringArray = times
                .iter()
                .map(|t| t.and_then(from_nanos).map(|t| t.format(format).to_string()))
                .collect();
            Ok(Arc::new(out))
        }
    }
}

/// Refuses a format chrono cannot use (it would panic while formatting).
pub(crate) fn check_format(format: &str) -> Result<()> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(Error::Schema {
            message: format!("{format:?} is not a strftime format"),
        });
    }
    Ok(())
}

/// The times of `v` as nanoseconds since the epoch (UTC).
pub(super) fn nanos(v: &ArrayRef) -> Result<TimestampNanosecondArray> {
    let t = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let plain = match v.data_type() {
        // The zone is dropped: the values are instants, kept as they are.
        DataType::Timestamp(unit, Some(_)) => {
            let unzoned = DataType::Timestamp(*unit, None);
            arrow::compute::cast(v, &unzoned).map_err(arrow_error)?
        }
        _ => v.clone(),
    };
    let out = arrow::compute::cast(&plain, &t).map_err(arrow_error)?;
    Ok(out
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
        .clone())
}

pub(super) fn from_nanos(ns: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_nanos(ns)
        .naive_utc()
        .into()
}

pub(super) fn to_nanos(t: NaiveDateTime) -> Option<i64> {
    t.and_utc().timestamp_nanos_opt()
}

/// `v` floored to `unit`, in `v`'s own type.
fn floor(v: &ArrayRef, unit: DtUnit) -> Result<ArrayRef> {
    let times = nanos(v)?;
    const S: i64 = 1_000_000_000;
    let fixed = |step: i64| -> TimestampNanosecondArray {
        times.unary(|ns: i64| ns.div_euclid(step) * step)
    };
    let floored = match unit {
        DtUnit::Second => fixed(S),
        DtUnit::Minute => fixed(60 * S),
        DtUnit::Hour => fixed(3600 * S),
        DtUnit::Day => fixed(86_400 * S),
        DtUnit::Month | DtUnit::Year => times
            .iter()
            .map(|ns| {
                let t = from_nanos(ns?)?;
                let month = if unit == DtUnit::Year { 1 } else { t.month() };
                let start = NaiveDate::from_ymd_opt(t.year(), month, 1)?.and_hms_opt(0, 0, 0)?;
                to_nanos(start)
            })
            .collect(),
    };
    back_to(Arc::new(floored), v.data_type())
}

/// Nanosecond times (`timestamp[ns]`, no zone) as type `t` (a zone is put back as it was: the
/// instants are UTC).
pub(super) fn back_to(times: ArrayRef, t: &DataType) -> Result<ArrayRef> {
    if let DataType::Timestamp(u, Some(_)) = t {
        let unzoned =
            arrow::compute::cast(&times, &DataType::Timestamp(*u, None)).map_err(arrow_error)?;
        return arrow::compute::cast(&unzoned, t).map_err(arrow_error);
    }
    arrow::compute::cast(&times, t).map_err(arrow_error)
}

/// Strings parsed as times (`timestamp[ns]`): with a strptime-style `format`, as
/// `pd.to_datetime(format=...)` (a format without a time reads midnight), or as ISO 8601
/// without one. Null stays null; times pass through. What [`Expr::to_datetime`] computes, for
/// readers that parse columns as they read them.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{ArrayRef, StringArray};
/// let dates: ArrayRef = Arc::new(StringArray::from(vec![Some("06/14/2017"), None]));
/// let times = partita_collections::parse_times(&dates, Some("%m/%d/%Y"))?;
/// assert_eq!(times.null_count(), 1);
/// # Ok::<(), partita_collections::Error>(())
/// ```
///
/// # Errors
/// [`Error::Schema`] naming the first string that does not parse, and the format.
pub fn parse_times(v: &ArrayRef, format: Option<&str>) -> Result<ArrayRef> {
    to_datetime(v, format)
}

pub(crate) fn to_datetime(v: &ArrayRef, format: Option<&str>) -> Result<ArrayRef> {
    let t = DataType::Timestamp(TimeUnit::Nanosecond, None);
    if is_time(v.data_type()) {
        return nanos(v).map(|a| Arc::new(a) as ArrayRef);
    }
    let v = arrow::compute::cast(v, &DataType::Utf8).map_err(arrow_error)?;
    let strings = v.as_string::<i32>();
    let Some(format) = format else {
        let strict = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        return arrow::compute::cast_with_options(&v, &t, &strict).map_err(|e| Error::Schema {
            message: format!("to_datetime without a format reads ISO 8601: {e}"),
        });
    };
    check_format(format)?;
    let mut out = Vec::with_capacity(strings.len());
    for s in strings.iter() {
        let Some(s) = s else {
            out.push(None);
            continue;
        };
        let parsed = NaiveDateTime::parse_from_str(s, format).or_else(|_| {
            NaiveDate::parse_from_str(s, format).map(|d| d.and_time(Default::default()))
        });
        match parsed.ok().and_then(to_nanos) {
            Some(ns) => out.push(Some(ns)),
            None => {
                return Err(Error::Schema {
                    message: format!("to_datetime: {s:?} does not match the format {format:?}"),
                })
            }
        }
    }
    Ok(Arc::new(TimestampNanosecondArray::from(out)))
}

/// The hour, minute and second of a parsed time, for tests.
#[cfg(test)]
fn clock(t: NaiveDateTime) -> (u32, u32, u32) {
    use chrono::Timelike;
    (t.hour(), t.minute(), t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[Option<&str>], format: Option<&str>) -> Result<Vec<Option<NaiveDateTime>>> {
        let v: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        let out = to_datetime(&v, format)?;
        let out = out.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        Ok(out.iter().map(|t| t.and_then(from_nanos)).collect())
    }

    #[test]
    fn formats_parse_as_pandas_does() {
        let got = parse(
            &[Some("06/14/2017"), None, Some("12/31/1999")],
            Some("%m/%d/%Y"),
        )
        .unwrap();
        let day = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(0, 0, 0)
        };
        assert_eq!(got, [day(2017, 6, 14), None, day(1999, 12, 31)]);
        let got = parse(&[Some("2017-06-14 13:45:10")], Some("%Y-%m-%d %H:%M:%S")).unwrap();
        assert_eq!(clock(got[0].unwrap()), (13, 45, 10));
        let iso = parse(&[Some("2017-06-14T01:02:03")], None).unwrap();
        assert_eq!(clock(iso[0].unwrap()), (1, 2, 3));
        let err = parse(&[Some("14/06/2017")], Some("%m/%d/%Y"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"14/06/2017\"") && err.contains("%m/%d/%Y"),
            "{err}"
        );
        assert!(parse(&[Some("x")], Some("%Q")).is_err());
    }

    #[test]
    fn floors_and_fields_of_a_time() {
        let v = parse(
            &[Some("2017-06-14 13:45:10"), Some("1969-12-31 23:59:59")],
            Some("%Y-%m-%d %H:%M:%S"),
        )
        .unwrap();
        let ns: Vec<Option<i64>> = v.iter().map(|t| t.and_then(to_nanos)).collect();
        let v: ArrayRef = Arc::new(TimestampNanosecondArray::from(ns));
        let text = |op| {
            let out = evaluate(
                &evaluate(&v, &op).unwrap(),
                &DtOp::Strftime("%Y-%m-%d %H:%M:%S".into()),
            )
            .unwrap();
            let out = out.as_string::<i32>();
            out.iter()
                .map(|s| s.unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            text(DtOp::Floor(DtUnit::Hour)),
            ["2017-06-14 13:00:00", "1969-12-31 23:00:00"]
        );
        assert_eq!(
            text(DtOp::Floor(DtUnit::Day)),
            ["2017-06-14 00:00:00", "1969-12-31 00:00:00"]
        );
        assert_eq!(
            text(DtOp::Floor(DtUnit::Month)),
            ["2017-06-01 00:00:00", "1969-12-01 00:00:00"]
        );
        assert_eq!(
            text(DtOp::Floor(DtUnit::Year)),
            ["2017-01-01 00:00:00", "1969-01-01 00:00:00"]
        );
        let field = |f| {
            let out = evaluate(&v, &DtOp::Field(f)).unwrap();
            out.as_primitive::<arrow::datatypes::Int32Type>()
                .values()
                .to_vec()
        };
        // 2017-06-14 was a Wednesday (2), the 165th day; 1969-12-31 a Wednesday, the 365th.
        assert_eq!(field(DtField::Weekday), [2, 2]);
        assert_eq!(field(DtField::DayOfYear), [165, 365]);
        assert_eq!(field(DtField::Quarter), [2, 4]);
        assert_eq!(field(DtField::Minute), [45, 59]);
    }
}
