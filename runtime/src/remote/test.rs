use std::sync::Arc;

use super::*;
use crate::error::Error;
use crate::graph::{Graph, Task, TaskKey};
use crate::value::{value, Value};
use crate::Runtime;

crate::register_fn! {
    fn forty() -> u64 { 40 }
}
crate::register_fn! {
    fn plus_one(x: &u64) -> u64 { x + 1 }
}
crate::register_fn! {
    fn times(a: &u64, b: &u64) -> u64 { a * b }
}
crate::register_fn! {
    fn total(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}
crate::register_fn! {
    fn explode(x: &u64) -> u64 { panic!("exploded on {x}") }
}
crate::register_fn! {
    fn parsed() -> Result<u64, std::num::ParseIntError> { "x".parse() }
}
crate::register_fn! {
    fn not_an_error() -> Result<u64, ()> { Err(()) }
}

fn of<F: 'static>(_: &F, usage: Usage) -> Operation {
    user_fn_op::<F>(usage).expect("registered")
}

/// A task with `op` whose local kernel is the one `op` builds.
fn task(key: &TaskKey, deps: &[TaskKey], op: Operation) -> Task {
    let kernel = op.build(key, deps).expect("builds");
    Task::new(key.clone(), deps.to_vec(), kernel).with_op(op)
}

/// total([forty() + 1, 3 * 5, 7]) = 63, each step a registered function or a literal.
fn sample() -> (Graph, TaskKey) {
    let k = |n: &str, i| TaskKey::new(n, i);
    let mut g = Graph::new();
    g.add_layer(
        "forty",
        vec![task(&k("forty", 0), &[], of(&forty, Usage::Call0))],
    );
    g.add_layer(
        "plus",
        vec![task(
            &k("plus", 0),
            &[k("forty", 0)],
            of(&plus_one, Usage::Ref1),
        )],
    );
    let lits = [3_u64, 5, 7]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            task(
                &k("lit", i as u64),
                &[],
                Operation::literal(v).expect("u64 codec"),
            )
        })
        .collect();
    g.add_layer("lit", lits);
    g.add_layer(
        "times",
        vec![task(
            &k("times", 0),
            &[k("lit", 0), k("lit", 1)],
            of(&times, Usage::Ref2),
        )],
    );
    g.add_layer(
        "total",
        vec![task(
            &k("total", 0),
            &[k("plus", 0), k("times", 0), k("lit", 2)],
            of(&total, Usage::Slice),
        )],
    );
    (g, k("total", 0))
}

fn rt() -> Runtime {
    Runtime::builder().threads(2).build().expect("runtime")
}

#[test]
fn a_graph_of_user_functions_and_literals_round_trips() {
    let (g, out) = sample();
    let rt = rt();
    let local = rt.compute(&g, std::slice::from_ref(&out)).unwrap();
    assert_eq!(*local[0].downcast_ref::<u64>().unwrap(), 63);

    let bytes = encode_graph(&g, std::slice::from_ref(&out)).unwrap();
    let reply = serve_graph(&rt, &bytes);
    let values = decode_outcome(&reply).unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].0, out);
    assert_eq!(*values[0].1.downcast_ref::<u64>().unwrap(), 63);
}

#[test]
fn shared_operations_are_written_once() {
    let op = of(&plus_one, Usage::Ref1);
    let mut g = Graph::new();
    let src = TaskKey::new("src", 0);
    g.add_layer(
        "src",
        vec![task(&src, &[], Operation::literal(&1_u64).unwrap())],
    );
    let tasks = (0..1000)
        .map(|i| {
            task(
                &TaskKey::new("inc", i),
                std::slice::from_ref(&src),
                op.clone(),
            )
        })
        .collect();
    g.add_layer("inc", tasks);
    let one = encode_graph(&g, &[]).unwrap();
    let mut g2 = Graph::new();
    g2.add_layer(
        "src",
        vec![task(&src, &[], Operation::literal(&1_u64).unwrap())],
    );
    g2.add_layer(
        "inc",
        (0..1000)
            .map(|i| {
                task(
                    &TaskKey::new("inc", i),
                    std::slice::from_ref(&src),
                    of(&plus_one, Usage::Ref1),
                )
            })
            .collect(),
    );
    let many = encode_graph(&g2, &[]).unwrap();
    assert!(
        one.len() + 30_000 < many.len(),
        "{} vs {}",
        one.len(),
        many.len()
    );
}

#[test]
fn a_plain_closure_is_refused_naming_its_layer() {
    let (mut g, _) = sample();
    let key = TaskKey::new("closure", 3);
    g.add_layer(
        "my-layer",
        vec![Task::new(
            key.clone(),
            vec![],
            Arc::new(|_| Ok(value(1_u64))),
        )],
    );
    let err = encode_graph(&g, std::slice::from_ref(&key)).unwrap_err();
    match &err {
        Error::NotTransportable { layer, key: k, .. } => {
            assert_eq!(layer, "my-layer");
            assert_eq!(k, &key);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("my-layer") && text.contains("remote_fn!"),
        "{text}"
    );
}

#[test]
fn a_plain_closure_has_no_operation() {
    let f = |x: &u64| x + 1;
    assert!(user_fn_op_of(&f).is_none());
    assert!(user_fn_op_of(&plus_one).is_some());
}

fn user_fn_op_of<F: 'static>(_: &F) -> Option<Operation> {
    user_fn_op::<F>(Usage::Ref1)
}

#[test]
fn a_function_used_in_another_shape_is_refused() {
    let op = user_fn_op::<fn(&u64) -> u64>(Usage::Ref1);
    assert!(op.is_none(), "a fn pointer is not the registered item");
    let wrong = of(&plus_one, Usage::Slice);
    let err = wrong
        .build(&TaskKey::new("x", 0), &[TaskKey::new("y", 0)])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot be called as Slice"),
        "{err}"
    );
    let wrong_arity = of(&times, Usage::Ref2)
        .build(&TaskKey::new("x", 0), &[TaskKey::new("y", 0)])
        .err()
        .unwrap();
    assert!(
        wrong_arity.to_string().contains("1 inputs"),
        "{wrong_arity}"
    );
}

#[test]
fn another_build_is_refused() {
    let (g, out) = sample();
    let mut bytes = encode_graph(&g, &[out]).unwrap();
    // The body starts with the 16 bytes of the sender's build id.
    bytes[6] ^= 0xff;
    let err = decode_graph(&bytes).err().unwrap();
    assert!(matches!(err, Error::BuildMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("same build"), "{err}");
}

#[test]
fn another_version_or_format_is_refused() {
    let (g, out) = sample();
    let mut bytes = encode_graph(&g, &[out]).unwrap();
    bytes[4] = 99;
    let err = decode_graph(&bytes).err().unwrap();
    assert!(err.to_string().contains("version 99"), "{err}");
    assert!(decode_graph(b"not a graph").is_err());
    assert!(decode_graph(&[]).is_err());
}

#[test]
fn a_failure_on_the_far_side_keeps_its_kind_message_and_keys() {
    let k = |n: &str| TaskKey::new(n, 0);
    let mut g = Graph::new();
    g.add_layer(
        "src",
        vec![task(&k("src"), &[], Operation::literal(&2_u64).unwrap())],
    );
    g.add_layer(
        "boom",
        vec![task(&k("boom"), &[k("src")], of(&explode, Usage::Ref1))],
    );
    g.add_layer(
        "after",
        vec![task(&k("after"), &[k("boom")], of(&plus_one, Usage::Ref1))],
    );
    let rt = rt();
    let local = rt.compute(&g, &[k("after")]).unwrap_err();
    let reply = serve_graph(&rt, &encode_graph(&g, &[k("after")]).unwrap());
    let remote = decode_outcome(&reply).unwrap_err();
    assert_eq!(remote.to_string(), local.to_string());
    match &remote {
        Error::Remote { kind, keys, .. } => {
            assert_eq!(kind, "DependencyFailed");
            assert_eq!(keys, &vec![k("after"), k("boom")]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(remote.to_string().contains("exploded on 2"));
    // The runtime that served it is healthy.
    let (g, out) = sample();
    assert_eq!(
        *rt.compute(&g, &[out]).unwrap()[0]
            .downcast_ref::<u64>()
            .unwrap(),
        63
    );
}

#[test]
fn every_builtin_codec_round_trips_and_refuses_truncation() {
    let values: Vec<Value> = vec![
        value(true),
        value(-5_i8),
        value(-300_i16),
        value(i32::MIN),
        value(i64::MAX),
        value(i128::MIN),
        value(255_u8),
        value(u16::MAX),
        value(7_u32),
        value(u64::MAX),
        value(u128::MAX),
        value(1.5_f32),
        value(f64::NEG_INFINITY),
        value("héllo".to_string()),
        value(usize::MAX),
        value(()),
        value(vec![1_u64, 2, 3]),
        value(vec!["a".to_string(), String::new()]),
        value(vec![("w".to_string(), 3_u64)]),
        value(vec![vec!["x".to_string()]]),
    ];
    for v in values {
        let (codec, bytes) = encode_value("v", &v).unwrap();
        let back = decode_value("v", codec, &bytes).unwrap();
        let (_, again) = encode_value("v", &back).unwrap();
        assert_eq!(bytes, again, "{codec}");
        if !bytes.is_empty() {
            assert!(
                decode_value("v", codec, &bytes[..bytes.len() - 1]).is_err(),
                "{codec}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_value("v", codec, &longer).is_err(), "{codec}");
    }
    assert!(encode_value("v", &value(vec![1_i8])).is_ok());
    let err = encode_value("the value", &value(std::time::Instant::now())).unwrap_err();
    assert!(err.to_string().contains("register_value!"), "{err}");
}

#[test]
fn no_name_is_registered_twice() {
    assert!(
        duplicate_operators().is_empty(),
        "{:?}",
        duplicate_operators()
    );
}

/// Random byte flips, insertions, deletions and truncations of a real graph and a real
/// outcome decode to an error or to a graph, never a panic.
#[test]
fn mutated_bytes_never_panic() {
    let (g, out) = sample();
    let graph = encode_graph(&g, std::slice::from_ref(&out)).unwrap();
    let outcome = serve_graph(&rt(), &graph);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..20_000 {
        let base = if round % 2 == 0 { &graph } else { &outcome };
        let mut bytes = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len().max(1);
            match next() % 4 {
                0 if !bytes.is_empty() => bytes[at] ^= 1 << (next() % 8),
                1 if !bytes.is_empty() => bytes[at] = next() as u8,
                2 => bytes.insert(at.min(bytes.len()), next() as u8),
                _ => bytes.truncate(at),
            }
        }
        let _ = decode_graph(&bytes);
        let _ = decode_outcome(&bytes);
    }
}

#[test]
fn a_function_returning_a_result_is_called_both_ways() {
    let key = TaskKey::new("t", 0);
    let cx = TaskContext {
        key: &key,
        deps: &[],
    };
    // As `submit` calls it, the `Result` is the value.
    let f = REMOTE_FNS
        .iter()
        .find(|f| f.name.ends_with("::parsed"))
        .unwrap();
    let v = (f.kernel)(Usage::Call0, cx).unwrap().unwrap()(vec![]).unwrap();
    assert!(v
        .downcast_ref::<Result<u64, std::num::ParseIntError>>()
        .unwrap()
        .is_err());
    // As `try_submit` calls it, the error fails the task and stays its typed source.
    let err = (f.kernel)(Usage::TryCall0, cx).unwrap().unwrap()(vec![]).unwrap_err();
    assert!(matches!(err, Error::TaskFailed { .. }), "{err}");
    assert!(err
        .root_cause()
        .downcast_ref::<std::num::ParseIntError>()
        .is_some());
    assert!(callable_op::<fn() -> u64>(Usage::TryCall0).is_none());
    // An error type that is not an error has no `TryCall0` shape; `Call0` still works.
    fn type_of<F: 'static>(_: &F) -> Option<Operation> {
        callable_op::<F>(Usage::TryCall0)
    }
    assert!(type_of(&parsed).is_some());
    assert!(type_of(&not_an_error).is_none());
    let g = REMOTE_FNS
        .iter()
        .find(|f| f.name.ends_with("::not_an_error"))
        .unwrap();
    assert!((g.kernel)(Usage::Call0, cx).unwrap().is_ok());
}
