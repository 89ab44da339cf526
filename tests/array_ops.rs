//! Every array operation against the same computation in plain ndarray on the whole array, over
//! random shapes and chunkings.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn, Zip};
use partita::collections::{Element, Numeric};
use partita::prelude::*;
use partita::{compute_arrays, Chunks, DType, Index, C128};
use proptest::prelude::*;

/// A shape of 1 to 3 axes (lengths 0 to 6, rarely 0) with a chunk size per axis.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(
        (
            prop_oneof![1 => Just(0_usize), 12 => 1..7_usize],
            1..5_usize,
        ),
        1..4,
    )
    .prop_map(|v| v.into_iter().unzip())
}

/// Integer data of `shape`, from a seed, with small values so sums and products are exact.
fn data(shape: &[usize], seed: u64) -> ArrayD<i64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % 11) as i64 - 5
    })
}

/// The reference reduction: group every element by its position with `axes` removed (or set to
/// 0, with `keepdims`) and fold each group sequentially.
fn reference<T: Copy, U: Clone>(
    x: &ArrayD<T>,
    axes: &[usize],
    keepdims: bool,
    fold: impl Fn(&[T]) -> U,
) -> ArrayD<U> {
    let mut groups: BTreeMap<Vec<usize>, Vec<T>> = BTreeMap::new();
    for (ix, &v) in x.indexed_iter() {
        let key: Vec<usize> = (0..x.ndim())
            .filter(|a| !axes.contains(a))
            .map(|a| ix[a])
            .collect();
        groups.entry(key).or_default().push(v);
    }
    let out_shape: Vec<usize> = (0..x.ndim())
        .filter_map(|a| {
            if !axes.contains(&a) {
                Some(x.shape()[a])
            } else if keepdims {
                Some(1)
            } else {
                None
            }
        })
        .collect();
    let kept: Vec<usize> = (0..x.ndim()).filter(|a| !axes.contains(a)).collect();
    ArrayD::from_shape_fn(IxDyn(&out_shape), |ix| {
        let key: Vec<usize> = if keepdims {
            kept.iter().map(|&a| ix[a]).collect()
        } else {
            (0..kept.len()).map(|i| ix[i]).collect()
        };
        fold(groups.get(&key).map_or(&[][..], |g| g.as_slice()))
    })
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter().zip(b.iter()).all(|(x, y)| {
            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()))
        })
}

/// A random subset of the axes of an array of `ndim` axes.
fn pick_axes(ndim: usize, bits: u8) -> Vec<usize> {
    (0..ndim).filter(|a| bits & (1 << a) != 0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn elementwise_chains_match_ndarray((shape, chunk) in shape_and_chunks(), seed: u64) {
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let y = (&(&a * 3) + 1).abs().clip(0, 9);
        prop_assert_eq!(y.compute().unwrap(), x.mapv(|v| (v * 3 + 1).abs().clamp(0, 9)));
        let f = a.astype::<f64>().unwrap();
        let g = (&f - &f.map(|v| v / 2.0)).sqrt();
        let want = x.mapv(|v| (v as f64 - v as f64 / 2.0).sqrt());
        prop_assert!(close(&g.compute().unwrap(), &want));
        let c = a.greater(0).unwrap();
        prop_assert_eq!(c.compute().unwrap(), x.mapv(|v| v > 0));
        let w = Array::select(&c, &a, &(-&a)).unwrap();
        prop_assert_eq!(w.compute().unwrap(), x.mapv(i64::abs));
    }

    #[test]
    fn broadcasting_matches_ndarray(
        (shape, chunk) in shape_and_chunks(),
        ones: u8,
        drop in 0..3_usize,
        other_chunk in 1..4_usize,
        seed: u64,
    ) {
        // `b`'s shape: `a`'s with some axes set to 1 and some leading axes dropped.
        let mut bshape: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &n)| if ones & (1 << i) != 0 { 1 } else { n })
            .collect();
        let drop = drop.min(bshape.len());
        bshape.drain(..drop);
        let (x, y) = (data(&shape, seed), data(&bshape, seed ^ 1));
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let bchunk = vec![other_chunk; bshape.len()];
        let b = Array::from_array(y.clone(), &bchunk).unwrap();
        let want_shape = IxDyn(&shape);
        let xb = x.broadcast(want_shape.clone()).unwrap();
        let yb = y.broadcast(want_shape).unwrap();
        let want = Zip::from(&xb).and(&yb).map_collect(|&p, &q| p - 2 * q);
        let got = a.zip_with(&b, |p, q| p - 2 * q).unwrap();
        prop_assert_eq!(got.shape(), shape.clone());
        prop_assert_eq!(got.compute().unwrap(), want.clone());
        // And the other way round (b on the left), through the operator.
        let got = (&b * 2).try_sub(&a).unwrap().map(|v| -v);
        prop_assert_eq!(got.compute().unwrap(), want);
    }

    #[test]
    fn reductions_match_sequential_reference(
        (shape, chunk) in shape_and_chunks(),
        bits: u8,
        keepdims: bool,
        seed: u64,
    ) {
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let axes = pick_axes(shape.len(), bits);
        let spec = |ks: bool| {
            let ax = Axes::list(&axes.iter().map(|&v| v as isize).collect::<Vec<_>>());
            if ks { ax.keepdims() } else { ax }
        };
        let sum = a.sum(spec(keepdims)).unwrap().compute().unwrap();
        prop_assert_eq!(sum, reference(&x, &axes, keepdims, |g| g.iter().sum::<i64>()));
        let prod = a.prod(spec(keepdims)).unwrap().compute().unwrap();
        prop_assert_eq!(prod, reference(&x, &axes, keepdims, |g| g.iter().product::<i64>()));
        let mean = a.mean(spec(keepdims)).unwrap().compute().unwrap();
        let want = reference(&x, &axes, keepdims, |g| {
            if g.is_empty() { f64::NAN } else { g.iter().sum::<i64>() as f64 / g.len() as f64 }
        });
        prop_assert!(close(&mean, &want), "mean {:?} vs {:?}", mean, want);
        for ddof in [0_usize, 1] {
            let var = a.var(spec(keepdims), ddof).unwrap().compute().unwrap();
            let want = reference(&x, &axes, keepdims, |g| {
                let n = g.len() as f64;
                let m = g.iter().sum::<i64>() as f64 / n;
                let ss: f64 = g.iter().map(|&v| (v as f64 - m).powi(2)).sum();
                if n - (ddof as f64) <= 0.0 { f64::NAN } else { ss / (n - ddof as f64) }
            });
            prop_assert!(close(&var, &want), "var {:?} vs {:?}", var, want);
            let std = a.std(spec(keepdims), ddof).unwrap().compute().unwrap();
            prop_assert!(close(&std, &want.mapv(f64::sqrt)));
        }
        let any = a.map(|v| v > 3).any(spec(keepdims)).unwrap().compute().unwrap();
        prop_assert_eq!(any, reference(&x, &axes, keepdims, |g| g.iter().any(|&v| v > 3)));
        let all = a.map(|v| v > -4).all(spec(keepdims)).unwrap().compute().unwrap();
        prop_assert_eq!(all, reference(&x, &axes, keepdims, |g| g.iter().all(|&v| v > -4)));
        // As NumPy: min/max fail when a folded axis is empty and the result is not.
        let folded_empty = axes.iter().any(|&ax| shape[ax] == 0);
        let out_empty = (0..shape.len()).any(|ax| !axes.contains(&ax) && shape[ax] == 0);
        let min = a.min(spec(keepdims)).unwrap().compute();
        let max = a.max(spec(keepdims)).unwrap().compute();
        if folded_empty && !out_empty {
            prop_assert!(min.is_err() && max.is_err(), "min over an empty axis must fail");
        } else {
            prop_assert_eq!(min.unwrap(), reference(&x, &axes, keepdims, |g| *g.iter().min().unwrap()));
            prop_assert_eq!(max.unwrap(), reference(&x, &axes, keepdims, |g| *g.iter().max().unwrap()));
        }
    }

    #[test]
    fn arg_reductions_find_the_first_extreme((shape, chunk) in shape_and_chunks(), axis in 0..3_usize, seed: u64) {
        let axis = axis % shape.len();
        prop_assume!(shape[axis] > 0);
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let first = |g: &[i64], max: bool| {
            let best = if max { g.iter().max() } else { g.iter().min() };
            g.iter().position(|v| Some(v) == best).unwrap() as u64
        };
        let got = a.argmin(axis as isize).unwrap().compute().unwrap();
        prop_assert_eq!(got, reference(&x, &[axis], false, |g| first(g, false)));
        let got = a.argmax(axis as isize).unwrap().compute().unwrap();
        prop_assert_eq!(got, reference(&x, &[axis], false, |g| first(g, true)));
    }

    #[test]
    fn slicing_matches_python_semantics(
        (shape, chunk) in shape_and_chunks(),
        picks in prop::collection::vec((any::<bool>(), -8..8_isize, -8..8_isize, prop_oneof![Just(-3_isize), Just(-2), Just(-1), Just(1), Just(2), Just(3)], any::<bool>(), any::<bool>()), 3),
        seed: u64,
    ) {
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let mut index = Vec::new();
        let mut lists: Vec<Option<Vec<usize>>> = Vec::new(); // None: the axis is dropped
        let mut at = Vec::new();
        for (axis, &n) in shape.iter().enumerate() {
            let (int, s, e, step, has_s, has_e) = picks[axis];
            if int && n > 0 {
                let i = s.rem_euclid(n as isize);
                let i = if s < 0 { i - n as isize } else { i };
                index.push(Index::At(i));
                lists.push(None);
                at.push(i.rem_euclid(n as isize) as usize);
            } else {
                let (start, stop) = (has_s.then_some(s), has_e.then_some(e));
                index.push(Index::range(start, stop, step));
                lists.push(Some(python_slice(n, start, stop, step)));
                at.push(0);
            }
        }
        let got = a.slice(&index).unwrap().compute().unwrap();
        // Reference: pick the listed positions one element at a time.
        let out_shape: Vec<usize> = lists.iter().flatten().map(Vec::len).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&out_shape), |ix| {
            let mut k = 0;
            let full: Vec<usize> = lists
                .iter()
                .zip(&at)
                .map(|(l, &i)| match l {
                    None => i,
                    Some(l) => {
                        let v = l[ix[k]];
                        k += 1;
                        v
                    }
                })
                .collect();
            x[IxDyn(&full)]
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn rechunk_transpose_reshape_match((shape, chunk) in shape_and_chunks(), new_chunk in 1..5_usize, perm_seed: u64, seed: u64) {
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let r = a.rechunk(&vec![new_chunk; shape.len()]).unwrap();
        prop_assert_eq!(r.compute().unwrap(), x.clone());
        // A permutation from the seed.
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        let mut s = perm_seed;
        for i in (1..perm.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let t = r.permute(&perm).unwrap();
        prop_assert_eq!(t.compute().unwrap(), x.clone().permuted_axes(IxDyn(&perm)));
        // Reshape to one axis, then to (n / k, k) for a divisor k.
        let n = x.len();
        let flat = t.permute(&inverse(&perm)).unwrap().reshape(&[n]).unwrap();
        let xs: Vec<i64> = x.iter().copied().collect();
        prop_assert_eq!(flat.compute().unwrap().into_raw_vec_and_offset().0, xs.clone());
        let k = (1..=n.max(1)).rev().find(|k| n.is_multiple_of(*k) && *k <= 4).unwrap_or(1);
        let two = a.reshape(&[n / k, k]).unwrap();
        prop_assert_eq!(two.compute().unwrap(), ArrayD::from_shape_vec(IxDyn(&[n / k, k]), xs).unwrap());
    }

    #[test]
    fn concatenate_and_stack_match((shape, chunk) in shape_and_chunks(), axis in 0..3_usize, seed: u64) {
        let axis = axis % shape.len();
        let x = data(&shape, seed);
        let mut shape2 = shape.clone();
        shape2[axis] = (shape2[axis] + 2) % 5;
        let y = data(&shape2, seed ^ 7);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let b = Array::from_array(y.clone(), &vec![2; shape.len()]).unwrap();
        let c = Array::concatenate(&[a.clone(), b], axis).unwrap();
        let want = ndarray::concatenate(ndarray::Axis(axis), &[x.view(), y.view()]).unwrap();
        prop_assert_eq!(c.compute().unwrap(), want);
        let s = Array::stack(&[a.clone(), a.map(|v| v + 1)], axis).unwrap();
        let x1 = x.mapv(|v| v + 1);
        let want = ndarray::stack(ndarray::Axis(axis), &[x.view(), x1.view()]).unwrap();
        prop_assert_eq!(s.compute().unwrap(), want);
    }

    #[test]
    fn matmul_matches_ndarray_dot(m in 1..8_usize, k in 1..8_usize, n in 1..8_usize, c1 in 1..4_usize, c2 in 1..4_usize, c3 in 1..4_usize, seed: u64) {
        let x = data(&[m, k], seed).into_dimensionality::<ndarray::Ix2>().unwrap();
        let y = data(&[k, n], seed ^ 3).into_dimensionality::<ndarray::Ix2>().unwrap();
        let a = Array::from_array(x.clone(), &[c1, c2]).unwrap();
        let b = Array::from_array(y.clone(), &[c3, c2]).unwrap();
        prop_assert_eq!(a.matmul(&b).unwrap().compute().unwrap(), x.dot(&y).into_dyn());
        let g = a.matmul(&a.t()).unwrap();
        prop_assert_eq!(g.compute().unwrap(), x.dot(&x.t()).into_dyn());
        let f = a.astype::<f64>().unwrap();
        let gf = f.matmul(&f.t()).unwrap().compute().unwrap();
        prop_assert_eq!(gf, x.dot(&x.t()).mapv(|v| v as f64).into_dyn());
    }

    #[test]
    fn masks_pick_in_c_order((shape, chunk) in shape_and_chunks(), seed: u64) {
        let x = data(&shape, seed);
        let a = Array::from_array(x.clone(), &chunk).unwrap();
        let got = a.mask(&a.greater(1).unwrap()).unwrap().compute().unwrap();
        let want: Vec<i64> = x.iter().copied().filter(|&v| v > 1).collect();
        prop_assert_eq!(got.into_raw_vec_and_offset().0, want);
    }
}

/// Python's `list(range(n))[start:stop:step]`, by walking the positions.
fn python_slice(n: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Vec<usize> {
    let n = n as isize;
    let fix = |v: isize, lo: isize, hi: isize| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lo, hi)
    };
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, e) = (
            start.map_or(0, |s| fix(s, 0, n)),
            stop.map_or(n, |e| fix(e, 0, n)),
        );
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (
            start.map_or(n - 1, |s| fix(s, -1, n - 1)),
            stop.map_or(-1, |e| fix(e, -1, n - 1)),
        );
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

#[test]
fn the_seed_example_centres_rows() {
    // x - x.mean(axis=1), checked by hand on a 2x3 array cut into 1x2 blocks.
    let x = Array::from_array(ndarray::array![[1.0, 2.0, 6.0], [4.0, 4.0, 4.0]], &[1, 2]).unwrap();
    let y = &x - &x.mean(axis(1).keepdims()).unwrap();
    assert_eq!(
        y.compute().unwrap(),
        ndarray::array![[-2.0, -1.0, 3.0], [0.0, 0.0, 0.0]].into_dyn()
    );
    // std of y = sqrt((4 + 1 + 9) / 6)
    let s: f64 = y.std(Axes::All, 0).unwrap().compute_scalar().unwrap();
    assert!((s - (14.0_f64 / 6.0).sqrt()).abs() < 1e-15);
}

#[test]
fn several_dtypes_sum_and_add() {
    let u = Array::from_array(ndarray::Array::from_iter(0..=255_u8), &[100]).unwrap();
    // As NumPy, a uint8 sum is a uint64: it does not wrap.
    assert_eq!(
        u.sum(Axes::All).unwrap().compute_scalar().unwrap(),
        (0..=255_u64).sum::<u64>()
    );
    let wide = u.astype::<u32>().unwrap();
    assert_eq!(
        wide.sum(Axes::All).unwrap().compute_scalar().unwrap(),
        32640
    );
    let f = Array::<f32>::linspace(0.0, 1.0, 5, 2).unwrap();
    assert_eq!(
        (&f * 4.0).compute().unwrap().into_raw_vec_and_offset().0,
        vec![0.0_f32, 1.0, 2.0, 3.0, 4.0]
    );
    let z = Array::from_array(
        ndarray::array![
            C128::new(1.0, 2.0),
            C128::new(3.0, -1.0),
            C128::new(0.0, 1.0)
        ],
        &[2],
    )
    .unwrap();
    assert_eq!(
        z.sum(Axes::All).unwrap().compute_scalar().unwrap(),
        C128::new(4.0, 2.0)
    );
    assert_eq!(
        (&z * &z).compute().unwrap().into_raw_vec_and_offset().0,
        vec![
            C128::new(-3.0, 4.0),
            C128::new(8.0, -6.0),
            C128::new(-1.0, 0.0)
        ]
    );
    let big = Array::from_array(ndarray::array![i128::MAX / 2, 1], &[1]).unwrap();
    assert_eq!(
        big.sum(Axes::All).unwrap().compute_scalar().unwrap(),
        i128::MAX / 2 + 1
    );
    assert!(
        big.astype::<f64>().is_err(),
        "int128 to float64 loses values"
    );
}

#[test]
fn broadcast_edge_cases() {
    // Size-1 axes on both sides: (3, 1) with (1, 4) gives (3, 4).
    let a = Array::from_array(ndarray::array![[1], [2], [3]], &[2, 1]).unwrap();
    let b = Array::from_array(ndarray::array![[10, 20, 30, 40]], &[1, 3]).unwrap();
    let c = (&a + &b).compute().unwrap();
    assert_eq!(
        c,
        ndarray::array![[11, 21, 31, 41], [12, 22, 32, 42], [13, 23, 33, 43]].into_dyn()
    );
    // A 0-length axis broadcasts against length 1.
    let e = Array::<i64>::zeros(&[0, 3], &[1, 2]).unwrap();
    let one = Array::<i64>::ones(&[1, 3], &[1, 2]).unwrap();
    let s = &e + &one;
    assert_eq!(s.shape(), vec![0, 3]);
    assert_eq!(s.compute().unwrap().len(), 0);
    // Scalars on either side of the operators.
    assert_eq!(
        (&one * 5).sum(Axes::All).unwrap().compute_scalar().unwrap(),
        15
    );
    // Shapes that do not broadcast are an error naming them.
    let bad = Array::<i64>::zeros(&[2, 3], &[1, 1]).unwrap();
    let err = bad
        .try_add(&Array::<i64>::zeros(&[4], &[2]).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("[2, 3]") && err.to_string().contains("[4]"),
        "{err}"
    );
    // So is a reduction axis out of range.
    assert!(bad.sum(axis(2)).is_err());
    assert!(bad.sum(axis(-1)).is_ok());
}

#[test]
fn chunk_specs_and_structure() {
    let c = Chunks::explicit(&[5, 3], vec![vec![2, 3], vec![3]]).unwrap();
    let x = Array::<f64>::zeros(&[5, 3], &[5, 3])
        .unwrap()
        .rechunk_to(c.clone())
        .unwrap();
    assert_eq!(x.chunks(), &c);
    assert_eq!(x.nblocks(), 2);
    assert!(x
        .to_string()
        .starts_with("Array<float64> shape=(5, 3) chunks=(2, 3) blocks=2"));
    assert!(Chunks::uniform(&[4], &[0]).is_err());
    // Computing several arrays shares their common inputs.
    let r = Array::random(&[30, 20], &[7, 6], 1).unwrap();
    let centred = &r - &r.mean(axis(0).keepdims()).unwrap();
    let out = compute_arrays([&centred, &centred.sum(axis(0)).unwrap()]).unwrap();
    assert!(out[1].iter().all(|v| v.abs() < 1e-12));
    assert_eq!(out[0].shape(), &[30, 20]);
}

#[test]
fn a_panicking_block_function_fails_only_its_computation() {
    let x = Array::<i64>::arange(10, 3).unwrap();
    let bad = x.map(|v| {
        if v == 7 {
            panic!("seven is not allowed")
        } else {
            v
        }
    });
    let err = bad.compute().unwrap_err().to_string();
    assert!(err.contains("seven is not allowed"), "{err}");
    assert_eq!(x.sum(Axes::All).unwrap().compute_scalar().unwrap(), 45);
}

/// The same reductions and element-wise chain in several dtypes: each against plain ndarray on
/// the data converted to that dtype first.
fn check_dtype<T>(x: &ArrayD<i64>, chunk: &[usize], axes: &[usize]) -> Result<(), TestCaseError>
where
    T: partita::collections::Real + std::fmt::Debug,
{
    let xt: ArrayD<T> = x.mapv(|v| T::from_f64((v + 5) as f64));
    let a = Array::from_array(xt.clone(), chunk).unwrap();
    let ax = Axes::list(&axes.iter().map(|&v| v as isize).collect::<Vec<_>>());
    let sum = a.sum(ax.clone()).unwrap().compute().unwrap();
    // In NumPy's sum type: int8 and uint16 widen to 64 bits and do not wrap.
    prop_assert_eq!(
        sum,
        reference(&xt, axes, false, |g| g
            .iter()
            .fold(<T::Sum as Numeric>::zero(), |s, &v| s.add(v.to_sum())))
    );
    if !axes.iter().any(|&ax| x.shape()[ax] == 0) {
        let max = a.max(ax.clone()).unwrap().compute().unwrap();
        prop_assert_eq!(
            max,
            reference(&xt, axes, false, |g| g.iter().fold(g[0], |m, &v| m.max2(v)))
        );
    }
    // float64 for integers, float32 for float32 (accumulated in f64, then rounded).
    let mean = a.mean(ax).unwrap().compute().unwrap();
    let want = reference(&xt, axes, false, |g| {
        if g.is_empty() {
            f64::NAN
        } else {
            g.iter().map(|v| v.to_f64()).sum::<f64>() / g.len() as f64
        }
    });
    let mean = mean.mapv(|m| m.parts().0);
    if T::DTYPE == DType::F32 {
        let want = want.mapv(|m| m as f32 as f64);
        prop_assert!(mean
            .iter()
            .zip(want.iter())
            .all(|(x, y): (&f64, &f64)| (x.is_nan() && y.is_nan())
                || (x - y).abs() <= 1e-6 * (1.0 + y.abs())));
    } else {
        prop_assert!(close(&mean, &want));
    }
    let two = T::from_f64(2.0);
    let chain = (&(&a * two) - &a).clip(T::from_f64(1.0), T::from_f64(8.0));
    prop_assert_eq!(
        chain.compute().unwrap(),
        xt.mapv(|v| v
            .mul(two)
            .sub(v)
            .max2(T::from_f64(1.0))
            .min2(T::from_f64(8.0)))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn reductions_in_several_dtypes((shape, chunk) in shape_and_chunks(), bits: u8, seed: u64) {
        let x = data(&shape, seed);
        let axes = pick_axes(shape.len(), bits);
        check_dtype::<i8>(&x, &chunk, &axes)?;
        check_dtype::<u16>(&x, &chunk, &axes)?;
        check_dtype::<i32>(&x, &chunk, &axes)?;
        check_dtype::<u64>(&x, &chunk, &axes)?;
        check_dtype::<i128>(&x, &chunk, &axes)?;
        check_dtype::<f32>(&x, &chunk, &axes)?;
        check_dtype::<f64>(&x, &chunk, &axes)?;
        // Complex: sums and products against ndarray.
        let z: ArrayD<C128> = x.mapv(|v| C128::new(v as f64, (v * 2) as f64));
        let a = Array::from_array(z.clone(), &chunk).unwrap();
        let ax = Axes::list(&axes.iter().map(|&v| v as isize).collect::<Vec<_>>());
        let got = a.sum(ax).unwrap().compute().unwrap();
        prop_assert_eq!(got, reference(&z, &axes, false, |g| g.iter().fold(C128::new(0.0, 0.0), |s, &v| s + v)));
        prop_assert_eq!((&a * &a).compute().unwrap(), z.mapv(|v| v * v));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Cumulative sums and products along every axis, over any chunking, against a sequential
    /// scan of each lane (the products of small values wrap in int64 exactly as the reference's).
    #[test]
    fn scans_match_sequential_reference(
        (shape, chunk) in shape_and_chunks(),
        ax in 0..3_usize,
        seed: u64,
    ) {
        let x = data(&shape, seed);
        let axis = ax % shape.len();
        let a = Array::from_array(x.mapv(|v| v as i16), &chunk).unwrap();
        let scan = |prod: bool| {
            let mut want = x.clone();
            want.accumulate_axis_inplace(ndarray::Axis(axis), |&p, c| {
                *c = if prod { p.wrapping_mul(*c) } else { p + *c }
            });
            want
        };
        prop_assert_eq!(a.cumsum(axis as isize).unwrap().compute().unwrap(), scan(false));
        prop_assert_eq!(a.cumprod(axis as isize).unwrap().compute().unwrap(), scan(true));
        let back = -(shape.len() as isize) + axis as isize;
        prop_assert_eq!(a.cumsum(back).unwrap().compute().unwrap(), scan(false));
    }
}

#[test]
fn a_scan_refuses_an_axis_out_of_range() {
    let x = Array::<f64>::arange(10, 3).unwrap();
    let err = x.cumsum(1).unwrap_err().to_string();
    assert!(err.contains("axis 1"), "{err}");
    assert!(x.cumsum(-2).is_err());
}

#[test]
fn element_wise_chains_fuse_into_one_task_per_block() {
    let x = Array::<f64>::arange(100, 10).unwrap(); // 10 blocks
    let y = (&(&x * 2.0) + 1.0).sqrt().map(|v| v - 1.0);
    let rt = Runtime::builder().threads(2).build().unwrap();
    let optimized = rt.optimize(y.graph(), &y.keys()).unwrap();
    // Source, multiply, add, sqrt and map: one task per block after fusion.
    assert_eq!(y.graph().len(), 50);
    assert_eq!(optimized.len(), 10);
    let want: Vec<f64> = (0..100)
        .map(|i| ((i as f64) * 2.0 + 1.0).sqrt() - 1.0)
        .collect();
    assert_eq!(
        rt.install(|| y.compute())
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        want
    );
}
