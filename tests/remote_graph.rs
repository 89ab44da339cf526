//! Graphs leave the process: each workload's graph is serialised, computed by a child process of
//! this test binary, and its answer sent back must equal the local one.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the child:
//! `remote_graph --serve-graph` reads a graph on stdin and writes the outcome on stdout.

#[path = "common/child.rs"]
mod child;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ndarray::{array, ArrayD, IxDyn, SliceInfoElem};
use num_complex::Complex;
use partita::collections::Element;
use partita::prelude::*;
use partita::runtime::Value;
use partita::{encode_graph, graph_all, remote_fn, Graph, Index, TaskKey};
use partita::{to_hdf5, Hdf5Write};

remote_fn! {
    /// `inc(i)`, the leaves of the task tree.
    fn inc(x: &u64) -> u64 { x + 1 }
}

remote_fn! {
    /// The inner nodes of the task tree.
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}

remote_fn! {
    fn product(a: &u64, b: &u64) -> u64 { a * b }
}

remote_fn! {
    fn seven() -> u64 { 7 }
}

remote_fn! {
    fn fails(x: &u64) -> u64 {
        if *x > 0 {
            panic!("no positive input, got {x}");
        }
        0
    }
}

/// The 100k task tree of `examples/tasks` (`inc(i)` leaves summed 16 at a time), with the
/// leaves' inputs as literals.
fn task_tree() {
    let n = 100_000_u64;
    let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(inc)).collect();
    while layer.len() > 1 {
        layer = layer.chunks(16).map(|xs| combine(xs, sum)).collect();
    }
    let root = layer.pop().unwrap();
    let local = root.compute().unwrap();
    assert_eq!(local, n * (n + 1) / 2);
    let remote = child::compute_remote(&root.graph(), std::slice::from_ref(root.key())).unwrap();
    assert_eq!(*remote[0].downcast_ref::<u64>().unwrap(), local);
}

/// Every shape of user function, a renamed value, and a persisted input.
fn delayed_shapes() {
    let a = delayed(seven).named("seven");
    let b = from_value(6_u64).persist().unwrap();
    let c = a.zip_with(&b, product).map(inc);
    let d = combine(&[c.clone(), a.clone(), b.clone()], sum);
    let keys = [c.key().clone(), d.key().clone()];
    let local = compute_all(&[c.clone(), d.clone()]).unwrap();
    assert_eq!(local, vec![43, 56]);
    let remote = child::compute_remote(&graph_all(&[c, d]), &keys).unwrap();
    let remote: Vec<u64> = remote
        .iter()
        .map(|v| *v.downcast_ref::<u64>().unwrap())
        .collect();
    assert_eq!(remote, local);
}

/// A task that panics in the child fails there; the error that comes back names the task and
/// reads as the local one does.
fn remote_failure_reads_as_local() {
    let x = from_value(3_u64).map(fails).map(inc);
    let local = x.compute().unwrap_err().to_string();
    let remote = child::compute_remote(&x.graph(), std::slice::from_ref(x.key()))
        .unwrap_err()
        .to_string();
    assert_eq!(remote, local);
    assert!(remote.contains("no positive input, got 3"), "{remote}");
}

/// A graph built by another executable is refused by the child, with a clear error.
fn another_build_is_refused() {
    let x = from_value(1_u64).map(inc);
    let mut bytes = encode_graph(&x.graph(), std::slice::from_ref(x.key())).unwrap();
    bytes[6] ^= 0x55; // the first byte of the sender's build id
    let reply = child::exchange(&bytes, Duration::from_secs(60));
    let err = partita::decode_outcome(&reply).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("was built by executable"), "{text}");
    assert!(text.contains("same build"), "{text}");
}

/// A plain closure cannot go remote: encoding fails before anything is sent, naming the layer
/// and the fix.
fn a_plain_closure_is_refused() {
    let x = from_value(1_u64).map(|v| v + 1);
    let err = encode_graph(&x.graph(), std::slice::from_ref(x.key())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("layer delayed-"), "{text}");
    assert!(text.contains("(map, "), "{text}");
    assert!(text.contains("remote_fn!"), "{text}");
    // It still runs locally.
    assert_eq!(x.compute().unwrap(), 2);
}

/// The whole array from its blocks, as they came back from the child.
fn assemble<T: Element>(a: &Array<T>, parts: Vec<Value>) -> ArrayD<T> {
    let chunks = a.chunks();
    let offsets: Vec<Vec<usize>> = (0..chunks.ndim()).map(|ax| chunks.offsets(ax)).collect();
    let mut out = ArrayD::<T>::default(IxDyn(&a.shape()));
    for (b, part) in chunks.blocks().zip(parts) {
        let block = part
            .downcast_ref::<ArrayD<T>>()
            .expect("a block of the array's dtype");
        let info: Vec<SliceInfoElem> = b
            .iter()
            .enumerate()
            .map(|(ax, &i)| ndarray::Slice::from(offsets[ax][i]..offsets[ax][i + 1]).into())
            .collect();
        out.slice_mut(info.as_slice()).assign(block);
    }
    out
}

type Check = Box<dyn FnOnce(Vec<Value>)>;

/// Arrays of any dtypes, computed here and then together by one child, each answer compared
/// with the local one.
#[derive(Default)]
struct Shipment {
    graph: Graph,
    keys: Vec<TaskKey>,
    checks: Vec<(usize, Check)>,
}

impl Shipment {
    fn add<T: Element>(&mut self, a: &Array<T>) -> &mut Self {
        let local = a.compute().unwrap();
        self.graph.merge(a.graph());
        self.keys.extend(a.keys());
        let (n, a, label) = (a.nblocks(), a.clone(), a.to_string());
        let check = move |parts: Vec<Value>| assert_eq!(assemble(&a, parts), local, "{label}");
        self.checks.push((n, Box::new(check)));
        self
    }

    fn ship(self) {
        let values = child::compute_remote(&self.graph, &self.keys).unwrap();
        let mut values = values.into_iter();
        for (n, check) in self.checks {
            check(values.by_ref().take(n).collect());
        }
    }
}

/// The seed's HDF5 workload: a float64 dataset written with `to_hdf5`, read back in chunks, and
/// each row centred on its mean. The child reopens the file from the reader's parameters.
fn hdf5_centred_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myfile.hdf5");
    let data = Array::random(&[40, 30], &[10, 10], 42).unwrap();
    to_hdf5(&data, &path, "/big-data", &Hdf5Write::new()).unwrap();
    let x = partita::read_hdf5(&path, "/big-data", Some(&[10, 10]))
        .unwrap()
        .into_typed::<f64>()
        .unwrap();
    let y = &x - &x.mean(axis(1).keepdims()).unwrap();
    let local = y.compute().unwrap();
    assert_eq!(local.shape(), &[40, 30]);
    let remote = child::compute_remote(y.graph(), &y.keys()).unwrap();
    assert_eq!(assemble(&y, remote), local);
    // With the file gone, the child cannot reopen it, and says which file it wanted.
    std::fs::remove_file(&path).unwrap();
    let err = child::compute_remote(y.graph(), &y.keys())
        .unwrap_err()
        .to_string();
    assert!(err.contains("myfile.hdf5"), "{err}");
    assert!(err.contains("no such file"), "{err}");
}

/// Creation, broadcasting, scalars, math functions, reductions along axes, slicing with
/// negative steps, rechunk, reshape, transpose, concatenate, stack, matmul, select, masks and
/// casts, over several dtypes: each shipped array's answer equals the local one.
fn array_operations() {
    let back = |n| Index::range(None, None, n);
    let mut ship = Shipment::default();

    // float64
    let x = Array::random(&[7, 5], &[3, 2], 7).unwrap();
    let row = Array::<f64>::linspace(-1.0, 1.0, 5, 2).unwrap();
    let col = Array::from_array(
        array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]],
        &[4, 1],
    )
    .unwrap();
    let z = &(&(&x + &row) * &col) - 0.5;
    ship.add(&z)
        .add(&(&z / 3.0).abs().sqrt())
        .add(&(&x + 1.0).log().exp().sin().cos())
        .add(&x.pow(&row).unwrap())
        .add(&x.pow(2.0).unwrap().clip(0.1, 0.6))
        .add(&-&x.minimum(&row).unwrap().maximum(0.25).unwrap())
        .add(&z.sum(axis(0)).unwrap())
        .add(&z.mean(axis(1).keepdims()).unwrap())
        .add(&z.var(axis(0), 1).unwrap())
        .add(&z.std(Axes::All, 0).unwrap())
        .add(&z.min(axis(1)).unwrap())
        .add(&z.max(Axes::All).unwrap())
        .add(&z.prod(axis(-1)).unwrap())
        .add(&z.argmax(1).unwrap())
        .add(&z.argmin(0).unwrap())
        .add(
            &z.slice(&[back(-2), Index::range(Some(4), Some(0), -1)])
                .unwrap(),
        )
        .add(&z.slice(&[Index::At(-1)]).unwrap())
        .add(&z.rechunk(&[2, 5]).unwrap())
        .add(&z.reshape(&[5, 7]).unwrap())
        .add(&z.t())
        .add(&Array::concatenate(&[z.clone(), x.clone()], 0).unwrap())
        .add(&Array::stack(&[z.clone(), x.clone()], 1).unwrap())
        .add(&z.matmul(&x.t()).unwrap())
        .add(&x.matmul(&x.t()).unwrap())
        .add(&Array::select(&x.greater(0.5).unwrap(), &x, &z).unwrap())
        .add(&Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap())
        .add(&x.astype_unchecked::<i32>());

    // int32
    let i = Array::<i32>::arange(12, 5)
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    let j = (&i * -3) + 7;
    ship.add(&j)
        .add(&(&j / &i))
        .add(&j.sum(axis(1)).unwrap())
        .add(&j.min(axis(0).keepdims()).unwrap())
        .add(&j.argmax(0).unwrap())
        .add(&j.slice(&[back(-1), back(-3)]).unwrap())
        .add(&Array::concatenate(&[j.clone(), i.clone()], 1).unwrap())
        .add(&j.matmul(&i.t()).unwrap())
        .add(&j.astype::<f64>().unwrap().mean(Axes::All).unwrap());

    // uint8: wrapping arithmetic.
    let u = Array::full(&[4, 3], &[3, 2], 200_u8).unwrap();
    let v = &u + &Array::<u8>::arange(3, 2).unwrap();
    ship.add(&(&v + 100))
        .add(&v.max(axis(0)).unwrap())
        .add(&v.prod(Axes::All).unwrap())
        .add(&v.sum(axis(1)).unwrap())
        .add(&v.astype::<f32>().unwrap());

    // bool
    let b = x.greater(0.3).unwrap();
    ship.add(&b)
        .add(&b.any(axis(0)).unwrap())
        .add(&b.all(axis(1)).unwrap())
        .add(&b.equal(&x.less_equal(0.8).unwrap()).unwrap())
        .add(&b.t().rechunk(&[5, 7]).unwrap())
        .add(&x.mask(&b).unwrap());

    // complex128
    let c = Array::from_array(
        ArrayD::from_shape_fn(IxDyn(&[4, 4]), |ix| {
            Complex::new(ix[0] as f64 - 1.5, ix[1] as f64 * 0.5)
        }),
        &[3, 2],
    )
    .unwrap();
    let d = &(&c * &c) + Complex::new(1.0, -1.0);
    ship.add(&d)
        .add(&d.abs())
        .add(&d.sum(axis(0)).unwrap())
        .add(&d.matmul(&c).unwrap())
        .add(&d.t().rechunk(&[4, 1]).unwrap())
        .add(&d.not_equal(&c).unwrap());

    // int128
    let w = Array::<i128>::arange(10, 4).unwrap();
    let w = &(&w * i128::MAX / 10) - 3;
    ship.add(&w)
        .add(&w.sum(Axes::All).unwrap())
        .add(&w.slice(&[Index::range(Some(8), None, -3)]).unwrap())
        .add(&w.reshape(&[2, 5]).unwrap().maximum(0).unwrap())
        .add(&Array::<i128>::zeros(&[0, 3], &[2, 2]).unwrap());
    ship.ship();
}

/// A block function given as a plain closure cannot go remote: encoding fails, naming its
/// layer; the built-in layers before it were fine.
fn array_plain_closure_is_refused() {
    let x = Array::<f64>::arange(6, 4).unwrap().sqrt();
    assert!(encode_graph(x.graph(), &x.keys()).is_ok());
    let y = x.map_blocks(|b| b.mapv(|v| v * 3.0));
    let err = encode_graph(y.graph(), &y.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-blocks-"), "{err}");
    let z = x.map(|v| v as i64);
    let err = encode_graph(z.graph(), &z.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-"), "{err}");
    // They still run locally.
    assert_eq!(y.compute().unwrap().len(), 6);
}

fn main() {
    if std::env::args().any(|a| a == child::SERVE_FLAG) {
        child::serve();
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: &[(&str, fn())] = &[
        ("task_tree", task_tree),
        ("delayed_shapes", delayed_shapes),
        (
            "remote_failure_reads_as_local",
            remote_failure_reads_as_local,
        ),
        ("another_build_is_refused", another_build_is_refused),
        ("a_plain_closure_is_refused", a_plain_closure_is_refused),
        ("hdf5_centred_rows", hdf5_centred_rows),
        ("array_operations", array_operations),
        (
            "array_plain_closure_is_refused",
            array_plain_closure_is_refused,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
