use super::*;

#[test]
fn even_ranges_cover_everything_once() {
    for len in 0..20 {
        for n in 1..8 {
            let rs: Vec<_> = even_ranges(len, n).collect();
            assert_eq!(rs.len(), n);
            assert_eq!(rs[0].start, 0);
            assert_eq!(rs[n - 1].end, len);
            for w in rs.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let sizes: Vec<usize> = rs.iter().map(|r| r.len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}

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
