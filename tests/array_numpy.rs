//! Reductions answer as NumPy's do, in NumPy's result types: every array of the h5py-written
//! fixture (one per dtype) is read as a user would read it, reduced over all axes and along
//! each axis, and compared with NumPy's own answers, written down in
//! `tests/data/numpy_reductions.txt` by `tests/data/make_numpy_reductions.py`. So are the
//! cumulative sums and products along each axis, and the complex arrays' `real`, `imag`,
//! `conj`, `angle` and `abs`.

use std::path::{Path, PathBuf};

use partita::collections::{axis, Array, Axes, Element, Real, Scalar, C128, C64};
use partita::io::read_hdf5;
use partita::DType;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// One line of the fixture: a reduction and NumPy's answer to it.
#[derive(Debug)]
struct Case {
    dataset: String,
    op: String,
    /// `all`, an axis, or `-` for an element-wise function.
    axis: String,
    dtype: String,
    shape: Vec<usize>,
    values: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(data("numpy_reductions.txt")).unwrap();
    text.lines()
        .map(|line| {
            let mut it = line.split(' ');
            let mut next = || it.next().unwrap().to_string();
            let (dataset, op, axis, dtype, shape) = (next(), next(), next(), next(), next());
            let shape = if shape == "-" {
                Vec::new()
            } else {
                shape.split(',').map(|d| d.parse().unwrap()).collect()
            };
            let values = it.map(str::to_string).collect();
            Case {
                dataset,
                op,
                axis,
                dtype,
                shape,
                values,
            }
        })
        .collect()
}

/// A computed reduction: its dtype, shape and values.
type Answer = (DType, Vec<usize>, Vec<Scalar>);

fn answer<U: Element>(a: partita::collections::Result<Array<U>>) -> Answer {
    let got = a.unwrap().compute().unwrap();
    let shape = got.shape().to_vec();
    (U::DTYPE, shape, got.iter().map(|v| v.to_scalar()).collect())
}

fn axes(case: &Case) -> Axes {
    match case.axis.as_str() {
        "all" => Axes::All,
        a => axis(a.parse().unwrap()),
    }
}

/// The reductions every dtype has.
fn reduce<T: Element>(x: &Array<T>, case: &Case) -> Option<Answer> {
    if case.axis == "-" {
        return None;
    }
    let ax = axes(case);
    Some(match case.op.as_str() {
        "sum" => answer(x.sum(ax)),
        "prod" => answer(x.prod(ax)),
        "mean" => answer(x.mean(ax)),
        "var" => answer(x.var(ax, 0)),
        "var1" => answer(x.var(ax, 1)),
        "std" => answer(x.std(ax, 0)),
        "any" => answer(x.any(ax)),
        "all" => answer(x.all(ax)),
        "count_nonzero" => answer(x.count_nonzero(ax)),
        "cumsum" => answer(x.cumsum(case.axis.parse().unwrap())),
        "cumprod" => answer(x.cumprod(case.axis.parse().unwrap())),
        _ => return None,
    })
}

/// The reductions of ordered dtypes too.
fn reduce_real<T: Real>(x: &Array<T>, case: &Case) -> Option<Answer> {
    let ax = axes(case);
    match case.op.as_str() {
        "min" => Some(answer(x.min(ax))),
        "max" => Some(answer(x.max(ax))),
        _ => reduce(x, case),
    }
}

/// The element-wise functions of complex numbers, and their reductions.
macro_rules! reduce_complex {
    ($name:ident, $c:ty) => {
        fn $name(x: &Array<$c>, case: &Case) -> Option<Answer> {
            match case.op.as_str() {
                "real" => Some(answer(Ok(x.real()))),
                "imag" => Some(answer(Ok(x.imag()))),
                "conj" => Some(answer(Ok(x.conj()))),
                "angle" => Some(answer(Ok(x.angle()))),
                "abs" => Some(answer(Ok(x.abs()))),
                _ => reduce(x, case),
            }
        }
    };
}
reduce_complex!(reduce_c64, C64);
reduce_complex!(reduce_c128, C128);

fn run(case: &Case) -> Answer {
    let x = read_hdf5(data("h5py_types.h5"), &case.dataset, Some(&[2, 3])).unwrap();
    macro_rules! typed {
        ($f:ident, $t:ty) => {
            $f(&x.into_typed::<$t>().unwrap(), case)
        };
    }
    let got = match x.dtype() {
        DType::Bool => typed!(reduce, bool),
        DType::I8 => typed!(reduce_real, i8),
        DType::I16 => typed!(reduce_real, i16),
        DType::I32 => typed!(reduce_real, i32),
        DType::I64 => typed!(reduce_real, i64),
        DType::U8 => typed!(reduce_real, u8),
        DType::U16 => typed!(reduce_real, u16),
        DType::U32 => typed!(reduce_real, u32),
        DType::U64 => typed!(reduce_real, u64),
        DType::F32 => typed!(reduce_real, f32),
        DType::F64 => typed!(reduce_real, f64),
        DType::C64 => typed!(reduce_c64, C64),
        DType::C128 => typed!(reduce_c128, C128),
        other => panic!("the fixture has no {other} dataset"),
    };
    got.unwrap_or_else(|| panic!("no reduction {}", case.op))
}

/// Whether `got` is NumPy's `want` (a float to within the rounding of its type: NumPy sums
/// pairwise in the element type, partita in `f64`).
fn same(got: &Scalar, want: &str, dtype: DType) -> bool {
    let tol = if matches!(dtype, DType::F32 | DType::C64) {
        1e-6
    } else {
        1e-12
    };
    let near = |g: f64, w: &str| {
        let w: f64 = w.parse().unwrap();
        (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * w.abs().max(1.0)
    };
    match *got {
        Scalar::Bool(b) => want == if b { "true" } else { "false" },
        Scalar::Int(i) => want.parse::<i128>() == Ok(i),
        Scalar::Uint(u) => want.parse::<u128>() == Ok(u),
        Scalar::Float(f) => near(f, want),
        Scalar::Complex(re, im) => {
            let (wr, wi) = want.split_once(',').unwrap();
            near(re, wr) && near(im, wi)
        }
    }
}

#[test]
fn reductions_answer_as_numpy() {
    let cases = cases();
    assert!(cases.len() > 470, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let (dtype, shape, values) = run(case);
        let ok = dtype.name() == case.dtype
            && shape == case.shape
            && values.len() == case.values.len()
            && values
                .iter()
                .zip(&case.values)
                .all(|(g, w)| same(g, w, dtype));
        if !ok {
            wrong.push(format!(
                "{} {} axis {}: numpy {} {:?} {:?}, partita {dtype} {shape:?} {values:?}",
                case.dataset, case.op, case.axis, case.dtype, case.shape, case.values
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// Sums of int8 and uint16 arrays large enough to overflow their element type, in many blocks,
/// against the sum of the same values widened one by one.
#[test]
fn narrow_integer_sums_do_not_wrap() {
    let xs: Vec<i8> = (0..10_000).map(|i| ((i * 37) % 256 - 128) as i8).collect();
    let want: i64 = xs.iter().map(|&v| i64::from(v)).sum();
    let wrapped = xs.iter().fold(0_i8, |a, &v| a.wrapping_add(v));
    assert_ne!(i64::from(wrapped), want, "the data must overflow int8");
    let x = Array::from_array(ndarray::Array1::from(xs).into_dyn(), &[999]).unwrap();
    assert_eq!(x.sum(Axes::All).unwrap().compute_scalar().unwrap(), want);
    let us: Vec<u16> = (0..10_000).map(|i| (i * 7919 % 65_536) as u16).collect();
    let want: u64 = us.iter().map(|&v| u64::from(v)).sum();
    let x = Array::from_array(ndarray::Array1::from(us).into_dyn(), &[1000]).unwrap();
    assert_eq!(x.sum(Axes::All).unwrap().compute_scalar().unwrap(), want);
}
