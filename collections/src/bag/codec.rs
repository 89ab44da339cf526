//! Codecs for the partitions a bag's aggregations pass between tasks, for the item types the
//! collections register themselves (see `register_item_type!` in `item_fn.rs`).
//!
//! A bag of `T` moves as `Vec<T>`; its aggregations move partial results too: `min`/`max` an
//! `Option<T>`, `mean` a `(sum, count)`, `frequencies` a count table and then `(item, count)`
//! pairs, `topk` a `Vec<T>`. The runtime registers the scalars and most of their vectors and
//! options; this file adds the rest, all through bincode
//! ([`register_value!`](partita_runtime::register_value)). `str_frequencies`' table has its own
//! codec, next to it in `strcount.rs`. A bag of a type of one's own needs
//! `register_value!(Vec<T>)` (and the partials of the aggregations it uses) to leave the
//! process. The user functions' aggregations and shuffles (`fold`, `reduction`, `foldby`,
//! `groupby`, `distinct`) write their generic intermediate values through codecs the user
//! registers anyway (the accumulator `A`, the result `Vec<(K, A)>` or `Vec<(K, Vec<T>)>`); see
//! `portable.rs`.

use super::Counts;

partita_runtime::register_value!((f64, u64), "bag.(f64, u64)");
partita_runtime::register_value!(Vec<char>, "Vec<char>");
partita_runtime::register_value!(Option<char>, "Option<char>");
partita_runtime::register_value!(char, "char");
partita_runtime::register_value!(Option<(String, u64)>, "Option<(String, u64)>");
partita_runtime::register_value!(Option<(String, usize)>, "Option<(String, usize)>");

/// The count table and the `(item, count)` pairs of `frequencies()` for each item type.
macro_rules! frequencies {
    ($($t:ty),* $(,)?) => {$(
        partita_runtime::register_value!(Counts<$t>, concat!("bag.Counts<", stringify!($t), ">"));
    )*};
}

frequencies!(
    bool,
    char,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    usize,
    String,
    (String, u64),
    (String, usize),
);

macro_rules! pairs {
    ($($t:ty),* $(,)?) => {$(
        partita_runtime::register_value!(Vec<($t, u64)>, concat!("Vec<(", stringify!($t), ", u64)>"));
    )*};
}

// `Vec<(String, u64)>`, `Vec<(u64, u64)>` and `Vec<(i64, u64)>` are the runtime's.
pairs!(
    bool,
    char,
    i8,
    i16,
    i32,
    u8,
    u16,
    u32,
    usize,
    (String, u64),
    (String, usize),
);
