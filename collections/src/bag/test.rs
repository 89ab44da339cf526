use super::*;
use partita_runtime::Value;

#[test]
fn element_wise_chains_add_no_layers() {
    let b = Bag::from_sequence(0..100_u32, 4);
    let chained = b
        .map(|x| x + 1)
        .filter(|x| x % 3 == 0)
        .flat_map(|x| vec![x, x])
        .map(|x| x * 2);
    assert_eq!(
        chained.graph.layers().len(),
        1,
        "the chain is fused into the reader"
    );
    // Materialising adds one layer of one task per partition.
    let g = chained.graph();
    assert_eq!(g.layers().len(), 2);
    assert_eq!(g.len(), 8);
}

crate::remote_fn! {
    fn add(acc: u64, x: u64) -> u64 { acc + x }
}

crate::remote_fn! {
    fn tens(x: &u64) -> u64 { x / 10 }
}

crate::remote_fn! {
    fn count_all(part: Vec<u64>) -> u64 { part.len() as u64 }
}

crate::remote_fn! {
    fn total(parts: Vec<u64>) -> u64 { parts.into_iter().sum() }
}

/// Every task of `graph` built again from its operation, as the far side does, computes the
/// same outputs.
fn rebuilt(graph: &Graph, outputs: &[TaskKey]) -> Vec<Value> {
    let bytes = partita_runtime::encode_graph(graph, outputs).unwrap();
    let (back, outputs) = partita_runtime::decode_graph(&bytes).unwrap();
    Runtime::builder()
        .threads(2)
        .build()
        .unwrap()
        .compute(&back, &outputs)
        .unwrap()
}

#[test]
fn user_aggregations_keep_their_closures_and_carry_operations() {
    let b = Bag::range(95, 3).filter(|x| x % 5 != 0);
    // A closure in the chain: no plan, so nothing is described.
    assert!(b.plan().is_none());
    let folded = b.fold(0, add, add);
    assert!(partita_runtime::encode_graph(&folded.graph(), &[folded.key().clone()]).is_err());
    assert_eq!(
        folded.compute().unwrap(),
        (0..95_u64).filter(|x| x % 5 != 0).sum::<u64>()
    );

    let b = Bag::range(95, 12);
    let folded = b.fold(0, add, add);
    let g = folded.graph();
    let names: Vec<&str> = g
        .layers()
        .iter()
        .flat_map(|l| l.tasks().iter().filter_map(|t| t.op().map(|op| op.name())))
        .collect();
    assert!(names.contains(&"bag.fold"), "{names:?}");
    let got = rebuilt(&g, &[folded.key().clone()]);
    assert_eq!(*got[0].downcast_ref::<u64>().unwrap(), 95 * 94 / 2);

    let grouped = b.foldby(tens, add, 0, add);
    let got = rebuilt(&grouped.graph(), &grouped.keys());
    let reference: Vec<(u64, u64)> = (0..10)
        .map(|t| (t, (t * 10..(t * 10 + 10).min(95)).sum()))
        .collect();
    assert_eq!(
        got[0].downcast_ref::<Vec<(u64, u64)>>().unwrap(),
        &reference
    );
    assert_eq!(grouped.compute().unwrap(), reference);

    let counted = b.reduction(count_all, total);
    let got = rebuilt(&counted.graph(), &[counted.key().clone()]);
    assert_eq!(*got[0].downcast_ref::<u64>().unwrap(), 95);
}
