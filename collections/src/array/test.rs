//! Array graphs as data: every layer an operation builds carries its operator, and the graph
//! decoded from its bytes computes the same blocks.

use partita_runtime::{decode_graph, duplicate_operators, encode_graph, operator, Runtime};

use super::{axis, Array, Axes, Index};

/// `a`'s graph through its bytes and back, computed: the blocks must equal the local ones.
fn same_after_shipping(a: &Array<f64>) {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let local = rt.install(|| a.compute()).unwrap();
    let bytes = encode_graph(a.graph(), &a.keys()).unwrap();
    let (graph, keys) = decode_graph(&bytes).unwrap();
    let parts = rt.compute(&graph, &keys).unwrap();
    assert_eq!(a.assemble(parts, &keys).unwrap(), local, "{a}");
}

#[test]
fn every_array_operator_is_registered_once() {
    for name in [
        "array.generate",
        "array.map",
        "array.zip",
        "array.where",
        "array.reduce_partial",
        "array.reduce_combine",
        "array.reduce_finish",
        "array.slice",
        "array.mask_count",
        "array.mask",
        "array.rechunk",
        "array.reshape",
        "array.matmul",
    ] {
        assert!(operator(name).is_ok(), "{name}");
    }
    assert_eq!(duplicate_operators(), Vec::<&str>::new());
}

#[test]
fn a_decoded_graph_computes_the_same_blocks() {
    let x = Array::random(&[9, 6], &[4, 4], 3).unwrap();
    let m = Array::from_array(ndarray::Array2::from_elem((9, 6), 0.25), &[5, 3]).unwrap();
    let y = &(&x - &x.mean(axis(1).keepdims()).unwrap()) * &m;
    same_after_shipping(&y);
    same_after_shipping(&y.std(Axes::All, 1).unwrap());
    same_after_shipping(&y.slice(&[Index::range(None, None, -2)]).unwrap().t());
    same_after_shipping(&y.matmul(&y.t()).unwrap().abs().sqrt());
    same_after_shipping(&y.reshape(&[6, 9]).unwrap().rechunk(&[6, 2]).unwrap());
    let flags = y.greater(0.0).unwrap();
    same_after_shipping(&Array::select(&flags, &y, &x).unwrap());
    same_after_shipping(&flags.astype_unchecked::<f64>().sum(axis(0)).unwrap());
}

#[test]
fn a_decoded_operator_refuses_a_dtype_it_has_no_kernel_for() {
    // `sqrt` of integers cannot be built; a graph from outside that asks for it fails to
    // decode, naming the operator and the dtype.
    use crate::layer::Op;
    let op: super::elementwise::MapOp =
        serde_json::from_str(r#"{"dtype":"I32","func":"Sqrt"}"#).unwrap();
    let key = partita_runtime::TaskKey::new("x", 0);
    let err = op
        .kernel(partita_runtime::TaskContext {
            key: &key,
            deps: std::slice::from_ref(&key),
        })
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("array.map has no kernel for int32"), "{err}");
}
