//! Mutation fuzz of everything that decodes bytes from another process: shipped graphs,
//! outcomes, and every registered value codec.
//!
//! ```text
//! cargo run --release --example remote_fuzz -- [--n 1000000] [--seed 1]
//! ```
//!
//! Seeds are real encodings (a graph of user functions, literals and a persisted value; its
//! outcome; a failure; values of every built-in codec). Each round takes a seed, applies one to
//! four random byte flips, overwrites, insertions, deletions or truncations, and decodes the
//! result. A panic is caught and counted; the run fails if there was any. Prints
//! `RESULT name=remote.fuzz inputs=<n> decoded_ok=<k> errors=<e> panics=<p> seconds=<s>`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use partita::prelude::*;
use partita::runtime::{decode_value, encode_outcome, encode_value, value, Value};
use partita::{decode_graph, decode_outcome, encode_graph, graph_all, remote_fn, serve_graph};

remote_fn! {
    fn inc(x: &u64) -> u64 { x + 1 }
}

remote_fn! {
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}

remote_fn! {
    fn join_words(a: &String, b: &Vec<String>) -> String { format!("{a} {}", b.join(" ")) }
}

type Decoder = Box<dyn Fn(&[u8]) -> bool>;

/// What a seed is, its bytes, and the decoder that reads them.
type Seed = (String, Vec<u8>, Decoder);

fn seeds(rt: &Runtime) -> Result<Vec<Seed>, Box<dyn std::error::Error>> {
    let mut seeds: Vec<Seed> = Vec::new();
    let leaves: Vec<Delayed<u64>> = (0..64).map(|i| from_value(i).map(inc)).collect();
    let parts: Vec<Delayed<u64>> = leaves.chunks(8).map(|xs| combine(xs, sum)).collect();
    let root = combine(&parts, sum);
    let persisted = rt.install(|| from_value(vec!["a".to_string(), "bc".into()]).persist())?;
    let text = from_value("words:".to_string()).zip_with(&persisted, join_words);
    let g = graph_all(std::slice::from_ref(&root));
    let graph = encode_graph(&g, std::slice::from_ref(root.key()))?;
    let text_graph = encode_graph(&text.graph(), std::slice::from_ref(text.key()))?;
    let outcome = serve_graph(rt, &graph);
    let failure = encode_outcome(
        &[],
        &Err(partita::runtime::Error::TaskPanicked {
            key: TaskKey::new("boom", 3),
            message: "exploded".into(),
        }),
    );
    for (what, bytes) in [
        ("graph", graph),
        ("graph-text", text_graph),
        ("outcome", outcome),
        ("failure", failure),
    ] {
        let decode: Decoder = if what.starts_with("graph") {
            Box::new(|b| decode_graph(b).is_ok())
        } else {
            Box::new(|b| decode_outcome(b).is_ok())
        };
        seeds.push((what.to_string(), bytes, decode));
    }
    // An array graph (the seed's centred rows) and a frame graph (a groupby), with their
    // partitions' codecs.
    let x = Array::random(&[40, 30], &[10, 10], 7)?;
    let y = &x - &x.mean(axis(1).keepdims())?;
    let frame = DataFrame::from_arrow(sample_batch()?, 3)?;
    let grouped = frame.filter(col("n").gt(lit(1)))?.groupby(&["s"])?.agg([
        partita::collections::sum("n"),
        partita::collections::mean("f"),
    ])?;
    for (what, bytes) in [
        ("graph-array", encode_graph(y.graph(), &y.keys())?),
        (
            "graph-frame",
            encode_graph(&grouped.graph(), &grouped.keys())?,
        ),
    ] {
        let decode: Decoder = Box::new(|b| decode_graph(b).is_ok());
        seeds.push((what.to_string(), bytes, decode));
    }
    let values: Vec<Value> = vec![
        value(sample_batch()?),
        value(ndarray::ArrayD::<f64>::from_elem(
            ndarray::IxDyn(&[3, 4]),
            1.5,
        )),
        value(ndarray::ArrayD::<i128>::from_elem(
            ndarray::IxDyn(&[2, 0, 5]),
            -1,
        )),
        value(ndarray::ArrayD::<bool>::from_elem(
            ndarray::IxDyn(&[7]),
            true,
        )),
        value(ndarray::ArrayD::<partita::C128>::from_elem(
            ndarray::IxDyn(&[2, 2]),
            partita::C128::new(1.0, -2.0),
        )),
        value(u64::MAX),
        value(-3_i128),
        value(1.5_f64),
        value("héllo wörld".to_string()),
        value(vec![1_u32, 2, 3]),
        value(vec!["x".to_string(), String::new(), "yz".into()]),
        value(vec![("w".to_string(), 9_u64)]),
        value(vec![vec!["p".to_string()]]),
    ];
    for v in values {
        let (codec, bytes) = encode_value("seed", &v)?;
        let decode: Decoder = Box::new(move |b| decode_value("fuzz", codec, b).is_ok());
        seeds.push((format!("value {codec}"), bytes, decode));
    }
    Ok(seeds)
}

/// A small table with integers, floats, strings and nulls.
fn sample_batch() -> Result<arrow::array::RecordBatch, Box<dyn std::error::Error>> {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Schema::new(vec![
        Field::new("n", DataType::Int64, true),
        Field::new("f", DataType::Float64, false),
        Field::new("s", DataType::Utf8, true),
    ]);
    Ok(arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(schema),
        vec![
            std::sync::Arc::new(Int64Array::from(vec![
                Some(1),
                None,
                Some(3),
                Some(4),
                Some(5),
            ])),
            std::sync::Arc::new(Float64Array::from(vec![0.5, 1.5, f64::NAN, -2.0, 1e300])),
            std::sync::Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                None,
                Some("a"),
                Some("é"),
            ])),
        ],
    )?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().ok_or("--n N")?.parse()?,
            "--seed" => seed = args.next().ok_or("--seed S")?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: remote_fuzz [--n N] [--seed S]"
                )
                .into())
            }
        }
    }
    // Decoders report panics through the hook; keep the output to the summary.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = Runtime::builder().threads(1).build()?;
    let seeds = seeds(&rt)?;
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut ok, mut errors, mut panics) = (0_u64, 0_u64, 0_u64);
    let started = Instant::now();
    for round in 0..n {
        let (what, base, decode) = &seeds[(round % seeds.len() as u64) as usize];
        let mut bytes = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len().max(1);
            match next() % 5 {
                0 if !bytes.is_empty() => bytes[at] ^= 1 << (next() % 8),
                1 if !bytes.is_empty() => bytes[at] = next() as u8,
                2 => bytes.insert(at.min(bytes.len()), next() as u8),
                3 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        match catch_unwind(AssertUnwindSafe(|| decode(&bytes))) {
            Ok(true) => ok += 1,
            Ok(false) => errors += 1,
            Err(_) => {
                panics += 1;
                eprintln!("panic decoding a mutated {what} (round {round})");
            }
        }
    }
    println!(
        "RESULT name=remote.fuzz inputs={n} seeds={} decoded_ok={ok} errors={errors} panics={panics} seconds={:.2}",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    if panics > 0 {
        return Err(format!("{panics} inputs panicked").into());
    }
    Ok(())
}
