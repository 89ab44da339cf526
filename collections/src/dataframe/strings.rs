//! The `.str` namespace of expressions: pandas' string methods over a string column, one
//! pass over the values each, nulls staying null.
//!
//! Positions and lengths count characters, not bytes, as Python does. Regular expressions are
//! the `regex` crate's (no look-around or backreferences); they are compiled, and so checked,
//! when the query is written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, Expr};
use crate::error::{Error, Result};

/// Which end of a string an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The start.
    Left,
    /// The end.
    Right,
    /// Both ends.
    Both,
}

/// A string operation: see [`StrExpr`] for each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StrOp {
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
    /// Strips whitespace, or the given characters, from one side or both.
    Strip {
        /// Where.
        side: Side,
        /// The characters to strip; `None`: whitespace.
        chars: Option<String>,
    },
    /// The characters from `start` up to `stop`, as a Python slice.
    Slice {
        /// The first character (negative: from the end).
        start: i64,
        /// The character after the last (negative: from the end; `None`: the end).
        stop: Option<i64>,
    },
    /// Every match of `pattern` replaced by `with`.
    Replace {
        /// A literal, or a regular expression.
        pattern: String,
        /// The replacement (for a regex, `$1` or `${name}` name groups).
        with: String,
        /// Whether `pattern` is a regular expression.
        regex: bool,
    },
    /// Item `index` of the string split at `separator` (whitespace runs when `None`).
    SplitGet {
        /// The separator.
        separator: Option<String>,
        /// Which piece (negative: from the end); null when there is none.
        index: i64,
    },
    /// Group `group` of the first match of a regular expression; null without a match.
    Extract {
        /// The expression.
        pattern: String,
        /// The group (0: the whole match).
        group: usize,
    },
    /// Whether the regular expression matches somewhere in the string.
    ContainsRegex(String),
    /// Padded with `fill` to `width` characters.
    Pad {
        /// The width to reach.
        width: usize,
        /// Where the fill goes.
        side: Side,
        /// The fill character.
        fill: char,
    },
    /// The string, `separator`, then the other string; null when either is.
    Cat {
        /// The other string.
        other: Box<Expr>,
        /// Between the two.
        separator: String,
    },
}

impl StrOp {
    /// Whether the result is a boolean (otherwise a string).
    pub(crate) fn is_predicate(&self) -> bool {
        matches!(self, StrOp::ContainsRegex(_))
    }

    /// Checks what can be checked before any data: the regular expressions.
    pub(crate) fn check(&self) -> Result<()> {
        match self {
            StrOp::Replace {
                pattern,
                regex: true,
                ..
            }
            | StrOp::Extract { pattern, .. }
            | StrOp::ContainsRegex(pattern) => compile(pattern).map(drop),
            _ => Ok(()),
        }
    }
}

fn compile(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(pattern).map_err(|e| Error::Schema {
        message: format!("the regular expression {pattern:?} does not compile: {e}"),
    })
}

/// The string methods of an expression, as pandas' `Series.str`. Made by [`Expr::str`].
///
/// ```
/// use partita_collections::{col, Side};
/// let name = col("name").str().strip().str().upper();
/// let first = col("full").str().split_get(" ", 0);
/// let year = col("date").str().extract(r"(\d{4})-\d\d", 1);
/// let code = col("id").str().pad(6, Side::Left, '0');
/// # let _ = (name, first, year, code);
/// ```
#[derive(Clone, Debug)]
pub struct StrExpr(pub(crate) Expr);

impl StrExpr {
    fn op(self, op: StrOp) -> Expr {
        Expr::Str(Box::new(self.0), op)
    }

    /// Lower case (Unicode).
    pub fn lower(self) -> Expr {
        self.op(StrOp::Lower)
    }

    /// Upper case (Unicode).
    pub fn upper(self) -> Expr {
        self.op(StrOp::Upper)
    }

    /// Without leading and trailing whitespace.
    pub fn strip(self) -> Expr {
        self.strip_chars(Side::Both, None)
    }

    /// Without the characters of `chars` (whitespace when `None`) at `side`, as pandas'
    /// `strip`, `lstrip` and `rstrip`.
    pub fn strip_chars(self, side: Side, chars: Option<&str>) -> Expr {
        self.op(StrOp::Strip {
            side,
            chars: chars.map(str::to_string),
        })
    }

    /// The characters from `start` up to `stop` (`None`: the end), as the Python slice
    /// `s[start:stop]`: negative positions count from the end, and positions past either end
    /// are clamped.
    pub fn slice(self, start: i64, stop: Option<i64>) -> Expr {
        self.op(StrOp::Slice { start, stop })
    }

    /// Every occurrence of the literal `pattern` replaced by `with`.
    pub fn replace(self, pattern: &str, with: &str) -> Expr {
        self.op(StrOp::Replace {
            pattern: pattern.to_string(),
            with: with.to_string(),
            regex: false,
        })
    }

    /// Every match of the regular expression `pattern` replaced by `with`, where `$1` or
    /// `${name}` stand for groups (pandas' `replace(regex=True)`, with `$1` for `\1`).
    pub fn replace_regex(self, pattern: &str, with: &str) -> Expr {
        self.op(StrOp::Replace {
            pattern: pattern.to_string(),
            with: with.to_string(),
            regex: true,
        })
    }

    /// Piece `index` of the string split at `separator`: pandas'
    /// `str.split(separator).str.get(index)`. Negative indices count from the end; null when
    /// there is no such piece.
    pub fn split_get(self, separator: &str, index: i64) -> Expr {
        self.op(StrOp::SplitGet {
            separator: Some(separator.to_string()),
            index,
        })
    }

    /// As [`split_get`](Self::split_get), splitting at runs of whitespace and ignoring it at
    /// both ends, as `str.split()` without a separator.
    pub fn split_whitespace_get(self, index: i64) -> Expr {
        self.op(StrOp::SplitGet {
            separator: None,
            index,
        })
    }

    /// Group `group` (0: the whole match) of the first match of `pattern`, null where it does
    /// not match: pandas' `str.extract`, one group at a time.
    pub fn extract(self, pattern: &str, group: usize) -> Expr {
        self.op(StrOp::Extract {
            pattern: pattern.to_string(),
            group,
        })
    }

    /// Whether the regular expression `pattern` matches somewhere: pandas' `str.contains`
    /// (whose default is a regex; [`Expr::contains`] is the literal one).
    pub fn contains(self, pattern: &str) -> Expr {
        self.op(StrOp::ContainsRegex(pattern.to_string()))
    }

    /// The length in characters ([`Expr::str_len`]).
    pub fn len(self) -> Expr {
        self.0.str_len()
    }

    /// Padded with `fill` to at least `width` characters, the fill on `side`: pandas'
    /// `str.pad(width, side, fillchar)` (its default side is [`Side::Left`]).
    pub fn pad(self, width: usize, side: Side, fill: char) -> Expr {
        self.op(StrOp::Pad { width, side, fill })
    }

    /// Each string, `separator`, then `other`'s: pandas' `str.cat(other, sep)`. Null where
    /// either is.
    pub fn cat(self, other: Expr, separator: &str) -> Expr {
        self.op(StrOp::Cat {
            other: Box::new(other),
            separator: separator.to_string(),
        })
    }
}

/// `op` over the strings of `v` (and, for [`StrOp::Cat`], of `other`).
pub(crate) fn evaluate(v: &ArrayRef, op: &StrOp, other: Option<&ArrayRef>) -> Result<ArrayRef> {
    let v = strings(v)?;
    Ok(match op {
        StrOp::Lower => map(v, |s, out| out.push_str(&s.to_lowercase())),
        StrOp::Upper => map(v, |s, out| out.push_str(&s.to_uppercase())),
        StrOp::Strip { side, chars } => {
            let strip = |c: char| match chars {
                None => c.is_whitespace(),
                Some(set) => set.contains(c),
            };
            map(v, |s, out| {
                out.push_str(match side {
                    Side::Left => s.trim_start_matches(strip),
                    Side::Right => s.trim_end_matches(strip),
                    Side::Both => s.trim_matches(strip),
                })
            })
        }
        StrOp::Slice { start, stop } => map(v, |s, out| {
            let n = s.chars().count() as i64;
            let at = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
            let (from, to) = (at(*start), stop.map_or(n, at));
            if from < to {
                out.extend(s.chars().skip(from as usize).take((to - from) as usize));
            }
        }),
        StrOp::Replace {
            pattern,
            with,
            regex: false,
        } => map(v, |s, out| out.push_str(&s.replace(pattern.as_str(), with))),
        StrOp::Replace { pattern, with, .. } => {
            let re = compile(pattern)?;
            map(v, |s, out| out.push_str(&re.replace_all(s, with.as_str())))
        }
        StrOp::SplitGet { separator, index } => map_opt(v, |s| {
            let pieces: Vec<&str> = match separator {
                Some(sep) => s.split(sep.as_str()).collect(),
                None => s.split_whitespace().collect(),
            };
            let n = pieces.len() as i64;
            let i = if *index < 0 { n + index } else { *index };
            (0..n).contains(&i).then(|| pieces[i as usize].to_string())
        }),
        StrOp::Extract { pattern, group } => {
            let re = compile(pattern)?;
            map_opt(v, |s| {
                re.captures(s)
                    .and_then(|c| c.get(*group))
                    .map(|m| m.as_str().to_string())
            })
        }
        StrOp::ContainsRegex(pattern) => {
            let re = compile(pattern)?;
            Arc::new(
                v.iter()
                    .map(|s| s.map(|s| re.is_match(s)))
                    .collect::<BooleanArray>(),
            )
        }
        StrOp::Pad { width, side, fill } => map(v, |s, out| {
            let short = width.saturating_sub(s.chars().count());
            let (left, right) = match side {
                Side::Left => (short, 0),
                Side::Right => (0, short),
                // CPython's `center`: an odd fill's extra goes left when the width is odd.
                Side::Both => {
                    let left = short / 2 + (short & *width & 1);
                    (left, short - left)
                }
            };
            out.extend(std::iter::repeat_n(*fill, left));
            out.push_str(s);
            out.extend(std::iter::repeat_n(*fill, right));
        }),
        StrOp::Cat { separator, .. } => {
            let other = strings(other.ok_or_else(|| Error::Schema {
                message: "str.cat lost its other operand".into(),
            })?)?;
            let joined: StringArray = v
                .iter()
                .zip(other.iter())
                .map(|(a, b)| Some(format!("{}{separator}{}", a?, b?)))
                .collect();
            Arc::new(joined)
        }
    })
}

/// `v` as strings (a dictionary or large string column is cast).
fn strings(v: &ArrayRef) -> Result<StringArray> {
    let v = arrow::compute::cast(v, &arrow::datatypes::DataType::Utf8).map_err(arrow_error)?;
    v.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::Schema {
            message: "expected strings".into(),
        })
}

/// Each non-null string through `f`, which writes the result into a reused buffer.
fn map(v: StringArray, f: impl Fn(&str, &mut String)) -> ArrayRef {
    let mut builder = arrow::array::StringBuilder::with_capacity(v.len(), v.values().len());
    let mut buf = String::new();
    for s in v.iter() {
        match s {
            None => builder.append_null(),
            Some(s) => {
                buf.clear();
                f(s, &mut buf);
                builder.append_value(&buf);
            }
        }
    }
    Arc::new(builder.finish())
}

/// Each non-null string through `f`, which may give null.
fn map_opt(v: StringArray, f: impl Fn(&str) -> Option<String>) -> ArrayRef {
    Arc::new(v.iter().map(|s| s.and_then(&f)).collect::<StringArray>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[Option<&str>], op: StrOp) -> Vec<Option<String>> {
        let v: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        let out = evaluate(&v, &op, None).unwrap();
        let out = out.as_any().downcast_ref::<StringArray>().unwrap();
        out.iter().map(|s| s.map(str::to_string)).collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn slices_follow_python() {
        // Python: [s[1:3], s[-2:], s[:-1], s[5:1], s[-10:2]] for s = "héllo".
        let cases = [
            (1, Some(3), "él"),
            (-2, None, "lo"),
            (0, Some(-1), "héll"),
            (5, Some(1), ""),
            (-10, Some(2), "hé"),
        ];
        for (start, stop, want) in cases {
            assert_eq!(
                run(&[Some("héllo")], StrOp::Slice { start, stop }),
                some(&[want]),
                "[{start}:{stop:?}]"
            );
        }
    }

    #[test]
    fn pads_follow_python() {
        // Python: "ab".rjust(5, "*"), "ab".ljust(5, "*"), "ab".center(5, "*"),
        // "abc".center(6, "*"), "abcdef".rjust(3).
        let pad = |width, side| StrOp::Pad {
            width,
            side,
            fill: '*',
        };
        assert_eq!(run(&[Some("ab")], pad(5, Side::Left)), some(&["***ab"]));
        assert_eq!(run(&[Some("ab")], pad(5, Side::Right)), some(&["ab***"]));
        assert_eq!(run(&[Some("ab")], pad(5, Side::Both)), some(&["**ab*"]));
        assert_eq!(run(&[Some("abc")], pad(6, Side::Both)), some(&["*abc**"]));
        assert_eq!(
            run(&[Some("abcdef")], pad(3, Side::Left)),
            some(&["abcdef"])
        );
    }

    #[test]
    fn split_get_and_extract_give_null_where_python_has_none() {
        let split = |separator: Option<&str>, index| StrOp::SplitGet {
            separator: separator.map(str::to_string),
            index,
        };
        let values = [Some("a-b-c"), Some("solo"), None, Some("")];
        assert_eq!(
            run(&values, split(Some("-"), 1)),
            [Some("b".to_string()), None, None, None]
        );
        assert_eq!(
            run(&values, split(Some("-"), -1)),
            [Some("c".into()), Some("solo".into()), None, Some("".into())]
        );
        assert_eq!(
            run(&[Some("  two  words ")], split(None, 1)),
            some(&["words"])
        );
        let extract = StrOp::Extract {
            pattern: r"(\d+)-(\d+)".into(),
            group: 2,
        };
        assert_eq!(
            run(&[Some("x 12-34 y"), Some("none"), None], extract),
            [Some("34".into()), None, None]
        );
    }

    #[test]
    fn strip_replace_and_case() {
        let values = [Some("  MiXed Case\t"), None];
        assert_eq!(
            run(
                &values,
                StrOp::Strip {
                    side: Side::Both,
                    chars: None
                }
            ),
            [Some("MiXed Case".into()), None]
        );
        let xs = [Some("xxhixx")];
        let strip = |side| StrOp::Strip {
            side,
            chars: Some("x".into()),
        };
        assert_eq!(run(&xs, strip(Side::Left)), some(&["hixx"]));
        assert_eq!(run(&xs, strip(Side::Right)), some(&["xxhi"]));
        assert_eq!(run(&[Some("Straße")], StrOp::Upper), some(&["STRASSE"]));
        let literal = StrOp::Replace {
            pattern: ".".into(),
            with: "!".into(),
            regex: false,
        };
        assert_eq!(run(&[Some("a.b.c")], literal), some(&["a!b!c"]));
        let regex = StrOp::Replace {
            pattern: r"(\w+)@(\w+)".into(),
            with: "$2 at $1".into(),
            regex: true,
        };
        assert_eq!(run(&[Some("me@home")], regex), some(&["home at me"]));
    }

    #[test]
    fn a_bad_regex_is_refused_before_any_data() {
        let err = StrOp::ContainsRegex("(unclosed".into())
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("(unclosed"), "{err}");
    }
}
