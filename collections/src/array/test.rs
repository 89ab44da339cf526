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
        "array.user_fn",
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

crate::remote_fn! {
    fn triple(x: f64) -> f64 { 3.0 * x }
}

crate::remote_fn! {
    fn plus_one(b: ndarray::ArrayViewD<'_, i64>) -> ndarray::ArrayD<i64> { b.mapv(|v| v + 1) }
}

#[test]
fn registered_array_functions_ship_and_closures_do_not() {
    let x = Array::<f64>::arange(7, 3).unwrap();
    same_after_shipping(&x.map(triple));
    same_after_shipping(&x.map(triple).map(triple).sum(Axes::All).unwrap());
    assert!(encode_graph(x.map(|v| v).graph(), &x.keys()).is_err());
    // Spelt as a path, `plus_one` is not a block function `map_blocks` knows: it runs here only.
    let i = Array::<i64>::arange(4, 2).unwrap();
    let j = i.map_blocks(plus_one);
    assert!(encode_graph(j.graph(), &j.keys()).is_err());
    assert_eq!(
        j.compute().unwrap().into_raw_vec_and_offset().0,
        vec![1, 2, 3, 4]
    );
}

#[test]
fn a_decoded_user_fn_refuses_other_dtypes() {
    // `triple` maps float64 to float64; a task built (from outside) for int32 fails to decode,
    // naming the function and both pairs of dtypes.
    use crate::layer::Op;
    let name = format!("{}::triple", module_path!());
    let json = format!(r#"{{"f":"{name}","usage":"ArrayMap","dtype":"I32","out":"F64"}}"#);
    let op: super::user_fn::ArrayFnOp = serde_json::from_str(&json).unwrap();
    let key = partita_runtime::TaskKey::new("x", 0);
    let cx = partita_runtime::TaskContext {
        key: &key,
        deps: std::slice::from_ref(&key),
    };
    let err = op.kernel(cx).err().unwrap().to_string();
    assert!(err.contains("triple maps float64 to float64"), "{err}");
    assert!(err.contains("built for int32 to float64"), "{err}");
    let json = format!(r#"{{"f":"{name}","usage":"ArrayBlocks","dtype":"F64","out":"F64"}}"#);
    let op: super::user_fn::ArrayFnOp = serde_json::from_str(&json).unwrap();
    let err = op.kernel(cx).err().unwrap().to_string();
    assert!(err.contains("cannot be used as ArrayBlocks"), "{err}");
}
