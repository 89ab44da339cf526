use super::*;

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
