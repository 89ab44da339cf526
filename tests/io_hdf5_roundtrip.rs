//! HDF5: every dtype written and read back, chunked and contiguous datasets, blocks that do not
//! divide the shape, gzip, and a file written by h5py. Each result is checked against the
//! ndarray the test started from.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use partita::collections::{Array, Axes, Chunks, C128, C64};
use partita::io::{
    read_hdf5, read_hdf5_as, store_hdf5, to_hdf5, to_hdf5_dyn, Hdf5Element, Hdf5Write,
};
use partita::{Runtime, Scheduler};
use proptest::prelude::*;

/// `f(i)` for the C-order position `i` of every element of `shape`.
fn by_position<T>(shape: &[usize], f: impl Fn(usize) -> T) -> ArrayD<T> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

/// Writes `data` in blocks of `block` with `options`, reads it back three ways (as the stored
/// dtype, typed, and with explicit chunks), and checks each against `data`. Returns the path.
fn round_trip<T: Hdf5Element>(
    dir: &Path,
    data: &ArrayD<T>,
    block: &[usize],
    options: &Hdf5Write,
) -> PathBuf {
    let path = dir.join(format!("{}-{}d.h5", T::DTYPE, data.ndim()));
    let x = Array::from_array(data.clone(), block).unwrap();
    to_hdf5(&x, &path, "data", options).unwrap();

    let dynamic = read_hdf5(&path, "data", None).unwrap();
    assert_eq!(dynamic.dtype(), T::DTYPE);
    assert_eq!(dynamic.shape(), data.shape());
    assert_eq!(&dynamic.into_typed::<T>().unwrap().compute().unwrap(), data);

    let typed = read_hdf5_as::<T>(&path, "data", None).unwrap();
    assert_eq!(&typed.compute().unwrap(), data, "{}", T::DTYPE);

    let ones = vec![1; data.ndim()];
    let fine = read_hdf5_as::<T>(&path, "data", Some(&ones)).unwrap();
    assert_eq!(fine.nblocks(), data.len().max(1));
    assert_eq!(
        &fine.compute().unwrap(),
        data,
        "{} in 1-element blocks",
        T::DTYPE
    );
    path
}

fn int_values<T: Copy>(min: T, max: T, f: impl Fn(usize) -> T) -> impl Fn(usize) -> T {
    move |i| match i {
        0 => min,
        1 => max,
        _ => f(i),
    }
}

#[test]
fn every_dtype_round_trips_in_blocks_that_do_not_divide_the_shape() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shape = [7, 5];
    let opts = Hdf5Write::new();
    let block = [3, 2];
    round_trip(d, &by_position(&shape, |i| i % 3 == 0), &block, &opts);
    round_trip(
        d,
        &by_position(&shape, int_values(i8::MIN, i8::MAX, |i| i as i8 - 17)),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(&shape, int_values(i16::MIN, i16::MAX, |i| i as i16 * -300)),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(i32::MIN, i32::MAX, |i| i as i32 * -70_000),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(i64::MIN, i64::MAX, |i| i as i64 * -(1 << 40)),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(&shape, int_values(u8::MIN, u8::MAX, |i| i as u8 * 7)),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(&shape, int_values(u16::MIN, u16::MAX, |i| i as u16 * 1800)),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(u32::MIN, u32::MAX, |i| i as u32 * 100_000_000),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(u64::MIN, u64::MAX, |i| i as u64 * (1 << 58)),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(f32::MIN, f32::INFINITY, |i| i as f32 / 3.0),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(
            &shape,
            int_values(f64::NEG_INFINITY, f64::MAX, |i| i as f64 / -7.0),
        ),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(&shape, |i| C64::new(i as f32 / 2.0, -(i as f32))),
        &block,
        &opts,
    );
    round_trip(
        d,
        &by_position(&shape, |i| {
            C128::new(i as f64 / 3.0, 1e300 / (i + 1) as f64)
        }),
        &block,
        &opts,
    );
}

#[test]
fn the_dataset_is_chunked_like_the_first_block_and_read_back_in_those_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let data = by_position(&[7, 5], |i| i as f64);
    let path = round_trip(dir.path(), &data, &[3, 2], &Hdf5Write::new());
    let back = read_hdf5(&path, "data", None).unwrap();
    assert_eq!(back.chunks().sizes(), &[vec![3, 3, 1], vec![2, 2, 1]]);
}

#[test]
fn chunks_given_for_the_write_become_the_datasets_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let data = by_position(&[7, 5], |i| i as i32);
    let options = Hdf5Write::new().chunks(&[4, 5]);
    let path = round_trip(dir.path(), &data, &[3, 2], &options);
    let back = read_hdf5_as::<i32>(&path, "data", None).unwrap();
    assert_eq!(back.chunks().sizes(), &[vec![4, 3], vec![5]]);
    // A chunk longer than the array is cut to it.
    let long = dir.path().join("long.h5");
    let x = Array::from_array(data.clone(), &[3, 2]).unwrap();
    to_hdf5(&x, &long, "data", &Hdf5Write::new().chunks(&[100, 2])).unwrap();
    let back = read_hdf5_as::<i32>(&long, "data", None).unwrap();
    assert_eq!(back.chunks().sizes(), &[vec![7], vec![2, 2, 1]]);
    assert_eq!(back.compute().unwrap(), data);
}

#[test]
fn one_two_and_three_dimensional_arrays_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Hdf5Write::new();
    round_trip(dir.path(), &by_position(&[10], |i| i as u16), &[4], &opts);
    round_trip(
        dir.path(),
        &by_position(&[6, 4], |i| i as i64 - 12),
        &[4, 3],
        &opts,
    );
    round_trip(
        dir.path(),
        &by_position(&[4, 3, 5], |i| i as f32 * 0.25),
        &[3, 2, 2],
        &opts,
    );
}

#[test]
fn reading_with_other_chunks_than_the_datasets_gives_the_same_array() {
    let dir = tempfile::tempdir().unwrap();
    let data = by_position(&[9, 8, 3], |i| (i * 7 % 11) as i64);
    let x = Array::from_array(data.clone(), &[4, 3, 3]).unwrap();
    let path = dir.path().join("x.h5");
    to_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap();
    for chunks in [[9, 8, 3], [2, 5, 1], [5, 1, 2], [1, 8, 3]] {
        let back = read_hdf5_as::<i64>(&path, "x", Some(&chunks)).unwrap();
        let want = Chunks::uniform(&[9, 8, 3], &chunks).unwrap();
        assert_eq!(back.chunks(), &want);
        assert_eq!(back.compute().unwrap(), data, "chunks {chunks:?}");
    }
}

#[test]
fn gzip_compresses_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let data = by_position(&[200, 150], |i| (i % 4) as f64);
    let x = Array::from_array(data.clone(), &[50, 150]).unwrap();
    let plain = dir.path().join("plain.h5");
    let packed = dir.path().join("packed.h5");
    to_hdf5(&x, &plain, "x", &Hdf5Write::new()).unwrap();
    to_hdf5(&x, &packed, "x", &Hdf5Write::new().gzip(6)).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&plain) > 200 * 150 * 8, "{}", size(&plain));
    assert!(
        size(&packed) * 10 < size(&plain),
        "{} vs {}",
        size(&packed),
        size(&plain)
    );
    assert_eq!(
        read_hdf5_as::<f64>(&packed, "x", None)
            .unwrap()
            .compute()
            .unwrap(),
        data
    );
    let dir2 = tempfile::tempdir().unwrap();
    round_trip(
        dir2.path(),
        &by_position(&[7, 5], |i| i as u8),
        &[3, 2],
        &Hdf5Write::new().gzip(9),
    );
}

#[test]
fn transposed_blocks_are_written_in_c_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = by_position(&[5, 7], |i| i as i32);
    let x = Array::from_array(data.clone(), &[2, 3]).unwrap().t();
    let path = dir.path().join("t.h5");
    to_hdf5(&x, &path, "t", &Hdf5Write::new()).unwrap();
    let back = read_hdf5_as::<i32>(&path, "t", None).unwrap();
    assert_eq!(back.compute().unwrap(), data.t().to_owned());
}

#[test]
fn zero_dimensional_and_empty_arrays_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let total = Array::<i64>::arange(10, 3).unwrap().sum(Axes::All).unwrap();
    let path = dir.path().join("scalar.h5");
    to_hdf5(&total, &path, "total", &Hdf5Write::new().gzip(4)).unwrap();
    let back = read_hdf5_as::<i64>(&path, "total", None).unwrap();
    assert_eq!(back.ndim(), 0);
    assert_eq!(back.compute_scalar().unwrap(), 45);

    let empty = Array::<f64>::zeros(&[0, 3], &[2, 2]).unwrap();
    let path = dir.path().join("empty.h5");
    to_hdf5(&empty, &path, "empty", &Hdf5Write::new()).unwrap();
    let back = read_hdf5_as::<f64>(&path, "empty", None).unwrap();
    assert_eq!(back.shape(), vec![0, 3]);
    assert_eq!(back.compute().unwrap().shape(), &[0, 3]);
}

#[test]
fn store_hdf5_writes_while_other_results_are_computed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stored.h5");
    let data = by_position(&[7, 5], |i| i as f64 * 0.5);
    let x = Array::from_array(data.clone(), &[3, 2]).unwrap();
    let y = x.map(|v| v * 2.0);
    let stored = store_hdf5(&y, &path, "group/y", &Hdf5Write::new()).unwrap();
    assert!(!path.exists(), "nothing is written before a compute");
    assert_eq!(stored.shape(), vec![7, 5]);
    assert_eq!(stored.chunks(), y.chunks());

    // One compute: the sum needs every stored block, so the file is written on the way.
    let total = stored.sum(Axes::All).unwrap().compute_scalar().unwrap();
    assert_eq!(total, data.sum() * 2.0);
    assert!(path.exists());
    let want = data.mapv(|v| v * 2.0);
    assert_eq!(
        read_hdf5_as::<f64>(&path, "group/y", None)
            .unwrap()
            .compute()
            .unwrap(),
        want
    );

    // Computing the stored array again gives its values and leaves the file as it was.
    let written = std::fs::read(&path).unwrap();
    assert_eq!(stored.compute().unwrap(), want);
    assert_eq!(std::fs::read(&path).unwrap(), written);
    drop(stored);
    assert!(path.exists(), "dropping the array keeps the complete file");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file is left behind");
}

// ---- A file written by h5py (tests/data/make_h5py_types.py) ----

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/h5py_types.h5")
}

/// The fixture's 4x5 dataset `name`, typed, checked against `f(n)` for n = 0..20.
fn check_fixture<T: Hdf5Element>(name: &str, f: impl Fn(i64) -> T) {
    let dynamic = read_hdf5(fixture(), name, None).unwrap();
    assert_eq!(dynamic.dtype(), T::DTYPE, "{name}");
    let got = dynamic.into_typed::<T>().unwrap().compute().unwrap();
    let want = by_position(&[4, 5], |i| f(i as i64));
    assert_eq!(got, want, "{name}");
}

#[test]
fn an_h5py_file_reads_with_every_numpy_dtype() {
    check_fixture("bool", |n| n % 3 == 0);
    check_fixture("int8", |n| (n - 10) as i8);
    check_fixture("int16", |n| (n * 1000 - 10000) as i16);
    check_fixture("int32", |n| (n * 100000 - 1000000) as i32);
    check_fixture("int64", |n| n * 1_000_000_000_000 - 10_000_000_000_000);
    check_fixture("uint8", |n| (n * 10) as u8);
    check_fixture("uint16", |n| (n * 3000) as u16);
    check_fixture("uint32", |n| (n * 200_000_000) as u32);
    check_fixture("uint64", |n| n as u64 * 900_000_000_000_000_000);
    check_fixture("float32", |n| n as f32 / 4.0);
    check_fixture("float64", |n| n as f64 / 8.0 - 1.0);
    check_fixture("complex64", |n| C64::new(n as f32, (20 - n) as f32));
    check_fixture("complex128", |n| C128::new(n as f64 / 2.0, -(n as f64)));
    check_fixture("int32_be", |n| (n - 10) as i32);
}

/// Every dtype of the h5py file, read without naming its type and written back with
/// `to_hdf5_dyn`, reads back with the same dtype and values (compared through the typed
/// arrays); 128-bit integers are refused, naming the file.
#[test]
fn arrays_of_a_run_time_dtype_write_back_in_that_dtype() {
    fn same<T: Hdf5Element + PartialEq + std::fmt::Debug>(a: &Path, b: &Path, name: &str) {
        let x = read_hdf5_as::<T>(a, name, None).unwrap().compute().unwrap();
        let y = read_hdf5_as::<T>(b, name, None).unwrap().compute().unwrap();
        assert_eq!(x, y, "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.h5");
    let names = [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "int32_be",
    ];
    for name in names {
        let x = read_hdf5(fixture(), name, None).unwrap();
        to_hdf5_dyn(&x, &out, name, &Hdf5Write::new().append(true)).unwrap();
        assert_eq!(
            read_hdf5(&out, name, None).unwrap().dtype(),
            x.dtype(),
            "{name}"
        );
    }
    let f = fixture();
    same::<bool>(&f, &out, "bool");
    same::<i8>(&f, &out, "int8");
    same::<i16>(&f, &out, "int16");
    same::<i32>(&f, &out, "int32");
    same::<i64>(&f, &out, "int64");
    same::<u8>(&f, &out, "uint8");
    same::<u16>(&f, &out, "uint16");
    same::<u32>(&f, &out, "uint32");
    same::<u64>(&f, &out, "uint64");
    same::<f32>(&f, &out, "float32");
    same::<f64>(&f, &out, "float64");
    same::<C64>(&f, &out, "complex64");
    same::<C128>(&f, &out, "complex128");
    same::<i32>(&f, &out, "int32_be");
    let wide = partita::collections::DynArray::I128(Array::<i128>::arange(4, 2).unwrap());
    let err = to_hdf5_dyn(&wide, dir.path().join("wide.h5"), "w", &Hdf5Write::new()).unwrap_err();
    assert!(
        err.to_string().contains("wide.h5") && err.to_string().contains("16 bytes"),
        "{err}"
    );
    assert!(!dir.path().join("wide.h5").exists());
}

#[test]
fn an_h5py_chunked_gzip_dataset_reads_in_its_own_chunks() {
    let x = read_hdf5_as::<f64>(fixture(), "group/chunked_gzip", None).unwrap();
    assert_eq!(x.chunks().sizes(), &[vec![4, 4, 2], vec![3, 3, 1]]);
    assert_eq!(
        x.compute().unwrap(),
        by_position(&[10, 7], |i| i as f64 * 0.5)
    );
    let x = read_hdf5_as::<f64>(fixture(), "/group/chunked_gzip", Some(&[10, 2])).unwrap();
    assert_eq!(
        x.compute().unwrap(),
        by_position(&[10, 7], |i| i as f64 * 0.5)
    );
}

#[test]
fn an_h5py_contiguous_dataset_reads_in_blocks_along_the_first_axis() {
    let x = read_hdf5_as::<i64>(fixture(), "contiguous", None).unwrap();
    assert_eq!(x.nblocks(), 1, "a small contiguous dataset is one block");
    assert_eq!(x.compute().unwrap(), by_position(&[2, 3, 4], |i| i as i64));
    let x = read_hdf5_as::<i64>(fixture(), "contiguous", Some(&[1, 2, 4])).unwrap();
    assert_eq!(x.nblocks(), 4);
    assert_eq!(x.compute().unwrap(), by_position(&[2, 3, 4], |i| i as i64));
}

#[test]
fn an_h5py_scalar_dataset_is_a_0d_array() {
    let x = read_hdf5_as::<f64>(fixture(), "scalar", None).unwrap();
    assert_eq!(x.ndim(), 0);
    assert_eq!(x.compute_scalar().unwrap(), 3.5);
}

#[test]
fn bool_bytes_outside_false_and_true_read_as_true() {
    let x = read_hdf5_as::<bool>(fixture(), "bool_raw", None).unwrap();
    let got = x.compute().unwrap().into_raw_vec_and_offset().0;
    assert_eq!(got, vec![false, true, true, true]);
}

#[test]
fn many_blocks_stored_on_many_threads_land_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.h5");
    let rt = Runtime::builder().threads(4).build().unwrap();
    let x = Array::random(&[300, 200], &[10, 20], 3).unwrap();
    let want = x.compute().unwrap();
    let y = x.map_blocks(|b| {
        // Uneven work, so blocks finish out of order.
        let spin = (b[[0, 0]] * 2000.0) as u64;
        std::thread::sleep(std::time::Duration::from_micros(spin));
        b.to_owned()
    });
    let stored = store_hdf5(&y, &path, "x", &Hdf5Write::new().chunks(&[32, 64])).unwrap();
    assert_eq!(stored.nblocks(), 300);
    assert_eq!(rt.install(|| stored.compute()).unwrap(), want);
    assert_eq!(
        rt.install(|| read_hdf5_as::<f64>(&path, "x", Some(&[64, 64]))
            .unwrap()
            .compute())
            .unwrap(),
        want
    );
    let sync = Runtime::builder()
        .scheduler(Scheduler::Sync)
        .build()
        .unwrap();
    let again = dir.path().join("sync.h5");
    sync.install(|| partita::io::to_hdf5(&y, &again, "x", &Hdf5Write::new()))
        .unwrap();
    assert_eq!(
        rt.install(|| read_hdf5_as::<f64>(&again, "x", None).unwrap().compute())
            .unwrap(),
        want
    );
}

/// A shape of 1 to 3 axes of 1 to 9, and three chunk shapes for it (the array's blocks, the
/// dataset's chunks, and the blocks read back).
fn layouts() -> impl Strategy<Value = (Vec<usize>, [Vec<usize>; 3])> {
    proptest::collection::vec(1_usize..10, 1..4).prop_flat_map(|shape| {
        let chunk = shape.iter().map(|&n| 1..=n).collect::<Vec<_>>();
        (Just(shape), [chunk.clone(), chunk.clone(), chunk])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_reads_back_what_was_written((shape, [block, stored, read]) in layouts()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.h5");
        let data = by_position(&shape, |i| i as i32 * 3 - 40);
        let x = Array::from_array(data.clone(), &block).unwrap();
        to_hdf5(&x, &path, "p", &Hdf5Write::new().chunks(&stored)).unwrap();
        let back = read_hdf5_as::<i32>(&path, "p", None).unwrap();
        prop_assert_eq!(back.chunks(), &Chunks::uniform(&shape, &stored).unwrap());
        prop_assert_eq!(back.compute().unwrap(), data.clone());
        let back = read_hdf5_as::<i32>(&path, "p", Some(&read)).unwrap();
        prop_assert_eq!(back.compute().unwrap(), data);
    }
}
