//! User functions applied item by item (a bag's `map`, `filter`, `flat_map`, `pluck`,
//! `str_frequencies`), registered at link time so that a bag's fused chain can be rebuilt in
//! another process.
//!
//! A bag reads each input partition through a fused chain of closures. When every step of the
//! chain is a function written inside [`remote_fn!`](crate::remote_fn), the bag also keeps the
//! chain as data: its source and the names of its steps ([`ReadPlan`]). The far side rebuilds the
//! typed chain from the names: each [`ItemFn`] entry knows its own argument and result types, so
//! it composes the reader it is given (a type-erased `Reader<A>`) into the next one
//! (`Reader<R>`), and the last one finishes it (collects, counts, or counts string keys).

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use partita_runtime::{value, Kernel, NameIndex, Result, TaskKey, Value};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::bag::Reader;

/// A type-erased value handed between adapters: a `Reader<T>`, a [`StrKeyReader`], a kernel.
pub type AnyBox = Box<dyn Any + Send + Sync>;

/// Passes the string keys that a `str_frequencies` function finds in one input partition.
pub type StrKeyReader =
    Arc<dyn Fn(Value, &TaskKey, &mut dyn FnMut(&str)) -> Result<()> + Send + Sync>;

/// How a bag applies an item function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ItemUse {
    /// `map(f)`: `f(item)`.
    Map,
    /// `filter(f)`: the items for which `f(&item)`.
    Filter,
    /// `flat_map(f)`: every element of `f(item)`.
    FlatMap,
    /// `pluck(f)`: `f(&item)`.
    Pluck,
    /// `str_frequencies(f)`: the keys `f(&item, count)` reports; ends the chain.
    StrKeys,
    /// Collects the chain's items into a `Vec` partition; ends the chain.
    Collect,
    /// `topk(k, f)`: one step of the top-`k` tree by the key `f(&item)`.
    TopK,
    /// `map_partitions(f)`: `f(items)` of each whole partition; ends the chain.
    Partitions,
    /// `Stream::generate(n, rate, f)`: the source of `f(0)`, `f(1)`, ...
    StreamSource,
    /// `Stream::map(f)`.
    StreamMap,
    /// `Stream::filter(f)`.
    StreamFilter,
    /// `Stream::flat_map(f)`.
    StreamFlatMap,
    /// `Stream::with_timestamps(f, lateness)`: `f` gives each record's event time.
    StreamTime,
    /// `Stream::key_by(f)`.
    StreamKey,
    /// A window's `sum`, `mean`, `min` or `max` of `f(record)`.
    StreamValue,
    /// The function itself as a typed function pointer (a `fold`'s combine, a `foldby`'s key),
    /// for another function's use to call.
    Pointer,
    /// `foldby(key, ..)`'s key `f(&item)`, as a function pointer.
    Key,
    /// `fold(initial, f, combine)`: one step of the fold's tree, `f(acc, item)` folding items.
    Fold,
    /// `foldby(key, f, initial, combine)`: one step of the tree, `f(acc, item)` folding items.
    FoldBy,
    /// `reduction(f, ..)`: `f(items)` of each whole partition; ends the chain.
    PerPartition,
    /// `reduction(.., f)`: one step of the tree, `f(partials)` merging partial results.
    Aggregate,
    /// `groupby(f)`: the hash shuffle of the items by the key `f(&item)`.
    GroupBy,
    /// `Array::map(f)`: `f` of every element of a block.
    ArrayMap,
    /// `Array::map_blocks(f)`: `f` of a view of each block.
    ArrayBlocks,
}

/// A registered item function, made by [`remote_fn!`](crate::remote_fn).
#[derive(Debug)]
pub struct ItemFn {
    /// The function's path, unique in the executable (the same name as its
    /// [`RemoteFn`](partita_runtime::RemoteFn) entry).
    pub name: &'static str,
    /// The type of the function item.
    pub type_id: fn() -> TypeId,
    /// Applies the function as `use` to the reader so far (`None`: the input partitions are
    /// `Vec`s of the function's argument type). `None` if the function has no such use.
    pub adapt: fn(ItemUse, Option<AnyBox>) -> Option<Result<AnyBox>>,
}

/// Every item function registered with [`remote_fn!`](crate::remote_fn).
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static ITEM_FNS: [ItemFn];

struct Index {
    by_type: FxHashMap<TypeId, &'static ItemFn>,
    by_name: NameIndex<ItemFn>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let by_type = ITEM_FNS.iter().map(|f| ((f.type_id)(), f)).collect();
        let by_name = NameIndex::new(&ITEM_FNS, |f| f.name);
        Index { by_type, by_name }
    })
}

/// The registered name of `F`, if it is an item function.
pub(crate) fn item_fn_name<F: 'static>() -> Option<&'static str> {
    if ITEM_FNS.is_empty() {
        return None;
    }
    index().by_type.get(&TypeId::of::<F>()).map(|f| f.name)
}

/// The item function registered as `name`.
pub(crate) fn item_fn(name: &str) -> Result<&'static ItemFn> {
    index().by_name.get("item function", name)
}

pub(crate) fn wire(message: String) -> partita_runtime::Error {
    partita_runtime::Error::Wire { message }
}

/// Runs `f` as `use` on `prev`, with an error naming the function when it has no such use.
pub(crate) fn apply(name: &str, usage: ItemUse, prev: Option<AnyBox>) -> Result<AnyBox> {
    (item_fn(name)?.adapt)(usage, prev).unwrap_or_else(|| {
        Err(wire(format!(
            "item function {name} cannot be used as {usage:?}"
        )))
    })
}

/// The reader of `Vec<T>` partitions, or `prev` downcast to a `Reader<T>`.
pub(crate) fn reader_of<T: Clone + Send + Sync + 'static>(
    prev: Option<AnyBox>,
) -> Result<Reader<T>> {
    match prev {
        None => Ok(crate::bag::vec_reader::<T>()),
        Some(b) => b.downcast::<Reader<T>>().map(|r| *r).map_err(|_| {
            wire(format!(
                "a bag step expects items of type {}",
                std::any::type_name::<T>()
            ))
        }),
    }
}

fn boxed<T: Send + Sync + 'static>(r: Reader<T>) -> Result<AnyBox> {
    Ok(Box::new(r))
}

/// `map(f)` on the reader so far.
#[doc(hidden)]
pub fn map<A, R>(f: fn(A) -> R, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    R: Send + Sync + 'static,
{
    let prev = reader_of::<A>(prev)?;
    boxed::<R>(Arc::new(move |v, key, emit| {
        prev(v, key, &mut |t| emit(f(t)))
    }))
}

/// `filter(f)` on the reader so far.
#[doc(hidden)]
pub fn filter<A>(f: fn(&A) -> bool, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
{
    let prev = reader_of::<A>(prev)?;
    boxed::<A>(Arc::new(move |v, key, emit| {
        prev(v, key, &mut |t| {
            if f(&t) {
                emit(t)
            }
        })
    }))
}

/// `flat_map(f)` on the reader so far.
#[doc(hidden)]
pub fn flat_map<A, U>(f: fn(A) -> Vec<U>, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    U: Send + Sync + 'static,
{
    let prev = reader_of::<A>(prev)?;
    boxed::<U>(Arc::new(move |v, key, emit| {
        prev(v, key, &mut |t| f(t).into_iter().for_each(&mut *emit))
    }))
}

/// `pluck(f)` on the reader so far.
#[doc(hidden)]
pub fn pluck<A, R>(f: fn(&A) -> R, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    R: Send + Sync + 'static,
{
    let prev = reader_of::<A>(prev)?;
    boxed::<R>(Arc::new(move |v, key, emit| {
        prev(v, key, &mut |t| emit(f(&t)))
    }))
}

/// A `str_frequencies` function: reports each key it finds in an item.
pub(crate) type KeysFn<A> = fn(&A, &mut dyn FnMut(&str));

/// The string keys `f` finds in each item of the reader so far.
#[doc(hidden)]
pub fn str_keys<A>(f: KeysFn<A>, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
{
    let prev = reader_of::<A>(prev)?;
    let keys: StrKeyReader = Arc::new(move |v, key, count| prev(v, key, &mut |t| f(&t, count)));
    Ok(Box::new(keys))
}

/// A kernel collecting the reader's items of type `T` into a `Vec<T>` partition.
fn collect<T: Clone + Send + Sync + 'static>(
    prev: Option<AnyBox>,
    input: TaskKey,
) -> Result<AnyBox> {
    let reader = reader_of::<T>(prev)?;
    let kernel: Kernel = Arc::new(move |mut inputs: Vec<Value>| {
        let mut items: Vec<T> = Vec::new();
        reader(inputs.swap_remove(0), &input, &mut |t| items.push(t))?;
        Ok(value(items))
    });
    Ok(Box::new(kernel))
}

/// A kernel running `f` on each whole partition's items, read through the chain.
#[doc(hidden)]
pub fn partitions<A, U>(f: fn(Vec<A>) -> Vec<U>, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    U: Send + Sync + 'static,
{
    let t = terminal(prev)?;
    let reader = reader_of::<A>(t.prev)?;
    let input = t.input;
    let kernel: Kernel = Arc::new(move |mut inputs: Vec<Value>| {
        let mut items: Vec<A> = Vec::new();
        reader(inputs.swap_remove(0), &input, &mut |x| items.push(x))?;
        Ok(value(f(items)))
    });
    Ok(Box::new(kernel))
}

/// What a terminal use (`Collect`) is handed: the reader so far, the use of the chain's
/// last step (which decides the item type), and the input partition's key.
#[doc(hidden)]
pub struct Terminal {
    /// The reader so far, or `None` for `Vec` partitions.
    pub prev: Option<AnyBox>,
    /// How the chain's last step used this function.
    pub after: ItemUse,
    /// The input partition's key.
    pub input: TaskKey,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("after", &self.after)
            .field("input", &self.input)
            .finish()
    }
}

/// Splits a terminal use's input box.
#[doc(hidden)]
pub fn terminal(prev: Option<AnyBox>) -> Result<Terminal> {
    prev.ok_or_else(|| wire("a terminal bag step was given no input".into()))?
        .downcast::<Terminal>()
        .map(|t| *t)
        .map_err(|_| wire("a terminal bag step was given a reader, not its input".into()))
}

/// The terminal `usage` (`Collect`) of items of type `T`.
#[doc(hidden)]
pub fn finish<T: Clone + Send + Sync + 'static>(usage: ItemUse, t: Terminal) -> Result<AnyBox> {
    match usage {
        ItemUse::Collect => collect::<T>(t.prev, t.input),
        other => Err(wire(format!("{other:?} does not end a bag's chain"))),
    }
}

/// Defines a function and registers it at link time, so that a graph that calls it can leave the
/// process: the far side, running the same executable, finds it by its module path.
///
/// Pass the function itself to a collection (`x.map(inc)`, `lines.str_frequencies(words)`); the
/// collection recognises it by its type. The shape of its signature says where it may go:
///
/// | signature | used by |
/// |---|---|
/// | `fn() -> R` | `delayed`, `Runtime::submit`, `Runtime::task` |
/// | `fn() -> Result<R, E>` | the same, and `Runtime::try_submit`, `Runtime::try_task` |
/// | `fn(&A) -> R` | `Delayed::map`, `Bag::pluck`, `Bag::topk`'s and `Bag::foldby`'s key, `Bag::groupby`, `Stream::key_by`, `Stream::with_timestamps` (`R`: `i64`), a window's `sum`/`mean`/`min`/`max` (`R`: `f64`) |
/// | `fn(&A) -> bool` | the same, and `Bag::filter`, `Stream::filter` |
/// | `fn(&A, &B) -> R` | `Delayed::zip_with` |
/// | `fn(&[&A]) -> R` | `combine` |
/// | `fn(A, T) -> A` | `Bag::fold`'s step, `Bag::foldby`'s binop |
/// | `fn(A, A) -> A` | the same, and their combine |
/// | `fn(A) -> R` | `Bag::map`, `Stream::map`, `Stream::generate` (`A`: `u64`), `Array::map` (`A`, `R`: array [`Element`](crate::Element)s) |
/// | `fn(ArrayViewD<'_, A>) -> ArrayD<U>` | `Array::map_blocks` (written so, with `ndarray`'s names in scope) |
/// | `fn(A) -> Vec<U>` | `Bag::map`, `Bag::flat_map`, and the same of `Stream` |
/// | `fn(Vec<A>) -> R` | `Bag::map`, `Bag::reduction`'s perpartition |
/// | `fn(Vec<A>) -> A` | the same, and `Bag::reduction`'s aggregate |
/// | `fn(Vec<A>) -> Vec<U>` | the same, and `Bag::map_partitions` |
/// | `fn(A) -> Result<R, E>` | `DataFrame::map_partitions` (`A`, `R`: `RecordBatch`) |
/// | `fn(&A, &mut dyn FnMut(&str))` | `Bag::str_frequencies` |
///
/// Item and result types must be `Clone + Send + Sync + 'static`. Values a function needs
/// beyond its input travel as inputs (`from_value(x)`), not as captures.
///
/// ```
/// use partita_collections::{from_value, remote_fn, Bag};
/// use partita_runtime::encode_graph;
///
/// remote_fn! {
///     /// The words of a line.
///     fn words(line: &String, count: &mut dyn FnMut(&str)) {
///         line.split_whitespace().for_each(count)
///     }
/// }
/// remote_fn! {
///     fn double(x: &u64) -> u64 { 2 * x }
/// }
///
/// let lines = Bag::from_sequence(vec!["a b".to_string(), "b".to_string()], 2);
/// let counts = lines.str_frequencies(words);
/// assert!(encode_graph(&counts.graph(), &counts.keys()).is_ok());
/// let mut got = counts.compute()?;
/// got.sort();
/// assert_eq!(got, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
///
/// let x = from_value(21_u64).map(double);
/// assert!(encode_graph(&x.graph(), &[x.key().clone()]).is_ok());
/// assert_eq!(x.compute()?, 42);
/// # Ok::<(), partita_collections::Error>(())
/// ```
#[macro_export]
macro_rules! remote_fn {
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty , $c:ident : &mut dyn FnMut(&str) ) $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: &$ta, $c: &mut dyn FnMut(&str)) $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::StrKeys => Some($crate::__private::item::str_keys::<$ta>($name, prev)),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : &[& $ta:ty] ) -> $r:ty $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name($a: &[&$ta]) -> $r $body }
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : ArrayViewD<'_, $ta:ty> ) -> ArrayD<$u:ty> $body:block) => {
        $(#[$m])* $v fn $name($a: ArrayViewD<'_, $ta>) -> ArrayD<$u> $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::ArrayBlocks => Some($crate::__private::array::blocks_step::<$ta, $u>($name, stringify!($name), prev)),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty , $b:ident : & $tb:ty ) -> $r:ty $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name($a: &$ta, $b: &$tb) -> $r $body }
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : $ta:ty , $b:ident : $tb:ty ) -> $r:ty $body:block) => {
        $(#[$m])* $v fn $name($a: $ta, $b: $tb) -> $r $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Pointer => Some(Ok(::std::boxed::Box::new($name as fn($ta, $tb) -> $r) as $crate::AnyBox)),
            $crate::ItemUse::Fold | $crate::ItemUse::FoldBy => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoAcc as _, ViaAcc as _};
                let probe = $crate::__private::item::Probe::<($ta, $r, $tb)>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::FoldFn<$ta, $tb, $r>> = (&probe).fold_fn();
                $crate::__private::item::fold_step(f, $name, stringify!($name), usage, prev)
            }),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty ) -> bool $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name($a: &$ta) -> bool $body }
        $crate::register_item_type!($ta);
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Filter => Some($crate::__private::item::filter::<$ta>($name, prev)),
            $crate::ItemUse::StreamFilter => Some($crate::__private::stream::filter::<$ta>($name, prev)),
            $crate::ItemUse::Pluck => Some($crate::__private::item::pluck::<$ta, bool>($name, prev)),
            $crate::ItemUse::Key => Some(Ok(::std::boxed::Box::new($name as fn(&$ta) -> bool) as $crate::AnyBox)),
            $crate::ItemUse::GroupBy => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoHashKey as _, ViaHashKey as _};
                let probe = $crate::__private::item::Probe::<bool>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::GroupByFn<$ta, bool>> = (&probe).groupby_fn();
                $crate::__private::item::groupby_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::TopK => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoOrdKey as _, ViaOrdKey as _};
                let probe = $crate::__private::item::Probe::<bool>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::TopKFn<$ta, bool>> = (&probe).topk_fn();
                $crate::__private::item::topk_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev).and_then(|t| match t.after {
                $crate::ItemUse::Filter => $crate::__private::item::finish::<$ta>(usage, t),
                _ => $crate::__private::item::finish::<bool>(usage, t),
            })),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty ) -> $r:ty $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name($a: &$ta) -> $r $body }
        $crate::register_item_type!($r);
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Pluck => Some($crate::__private::item::pluck::<$ta, $r>($name, prev)),
            $crate::ItemUse::StreamTime => Some($crate::__private::stream::time::<$ta, $r>($name, prev)),
            $crate::ItemUse::StreamValue => Some($crate::__private::stream::window_value::<$ta, $r>($name)),
            $crate::ItemUse::StreamKey => Some({
                #[allow(unused_imports)]
                use $crate::__private::stream::{NoHashKey as _, ViaHashKey as _};
                let probe = $crate::__private::item::Probe::<$r>(::std::marker::PhantomData);
                let f: Option<$crate::__private::stream::KeyFn<$ta, $r>> = (&probe).key_fn();
                $crate::__private::stream::key_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::Key => Some(Ok(::std::boxed::Box::new($name as fn(&$ta) -> $r) as $crate::AnyBox)),
            $crate::ItemUse::GroupBy => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoHashKey as _, ViaHashKey as _};
                let probe = $crate::__private::item::Probe::<$r>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::GroupByFn<$ta, $r>> = (&probe).groupby_fn();
                $crate::__private::item::groupby_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::TopK => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoOrdKey as _, ViaOrdKey as _};
                let probe = $crate::__private::item::Probe::<$r>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::TopKFn<$ta, $r>> = (&probe).topk_fn();
                $crate::__private::item::topk_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev)
                .and_then(|t| $crate::__private::item::finish::<$r>(usage, t))),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : $ta:ty ) -> Result<$r:ty, $e:ty> $body:block) => {
        $(#[$m])* $v fn $name($a: $ta) -> Result<$r, $e> $body
        $crate::__private::register_fn!(@register $name, TryOwned1, |cx| {
            $crate::__private::try_owned1::<$ta, $r, $e>($name, cx)
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : Vec<$ea:ty> ) -> Vec<$u:ty> $body:block) => {
        $(#[$m])* $v fn $name($a: Vec<$ea>) -> Vec<$u> $body
        $crate::register_item_type!($u);
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Map => Some($crate::__private::item::map::<Vec<$ea>, Vec<$u>>($name, prev)),
            $crate::ItemUse::StreamMap => Some($crate::__private::stream::map::<Vec<$ea>, Vec<$u>>($name, prev)),
            $crate::ItemUse::StreamFlatMap => Some($crate::__private::stream::flat_map::<Vec<$ea>, $u>($name, prev)),
            $crate::ItemUse::FlatMap => Some($crate::__private::item::flat_map::<Vec<$ea>, $u>($name, prev)),
            $crate::ItemUse::Partitions => Some($crate::__private::item::partitions::<$ea, $u>($name, prev)),
            $crate::ItemUse::PerPartition => Some($crate::__private::item::per_partition::<$ea, Vec<$u>>($name, prev)),
            $crate::ItemUse::Aggregate => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoSame as _, ViaSame as _};
                let probe = $crate::__private::item::Probe::<($ea, Vec<$u>)>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::AggregateFn<$ea, Vec<$u>>> = (&probe).aggregate_fn();
                $crate::__private::item::aggregate_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev).and_then(|t| match t.after {
                $crate::ItemUse::FlatMap => $crate::__private::item::finish::<$u>(usage, t),
                _ => $crate::__private::item::finish::<Vec<$u>>(usage, t),
            })),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : Vec<$ea:ty> ) -> $r:ty $body:block) => {
        $(#[$m])* $v fn $name($a: Vec<$ea>) -> $r $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Map => Some($crate::__private::item::map::<Vec<$ea>, $r>($name, prev)),
            $crate::ItemUse::PerPartition => Some($crate::__private::item::per_partition::<$ea, $r>($name, prev)),
            $crate::ItemUse::Aggregate => Some({
                #[allow(unused_imports)]
                use $crate::__private::item::{NoSame as _, ViaSame as _};
                let probe = $crate::__private::item::Probe::<($ea, $r)>(::std::marker::PhantomData);
                let f: Option<$crate::__private::item::AggregateFn<$ea, $r>> = (&probe).aggregate_fn();
                $crate::__private::item::aggregate_step(f, $name, stringify!($name), prev)
            }),
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev)
                .and_then(|t| $crate::__private::item::finish::<$r>(usage, t))),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : $ta:ty ) -> Vec<$u:ty> $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: $ta) -> Vec<$u> $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Map => Some($crate::__private::item::map::<$ta, Vec<$u>>($name, prev)),
            $crate::ItemUse::StreamMap => Some($crate::__private::stream::map::<$ta, Vec<$u>>($name, prev)),
            $crate::ItemUse::StreamFlatMap => Some($crate::__private::stream::flat_map::<$ta, $u>($name, prev)),
            $crate::ItemUse::StreamSource => Some($crate::__private::stream::source::<$ta, Vec<$u>>($name, prev)),
            $crate::ItemUse::FlatMap => Some($crate::__private::item::flat_map::<$ta, $u>($name, prev)),
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev).and_then(|t| match t.after {
                $crate::ItemUse::FlatMap => $crate::__private::item::finish::<$u>(usage, t),
                _ => $crate::__private::item::finish::<Vec<$u>>(usage, t),
            })),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : $ta:ty ) -> $r:ty $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: $ta) -> $r $body
        $crate::remote_fn!(@items $name, |usage, prev| match usage {
            $crate::ItemUse::Map => Some($crate::__private::item::map::<$ta, $r>($name, prev)),
            $crate::ItemUse::StreamMap => Some($crate::__private::stream::map::<$ta, $r>($name, prev)),
            $crate::ItemUse::StreamSource => Some($crate::__private::stream::source::<$ta, $r>($name, prev)),
            $crate::ItemUse::ArrayMap => {
                #[allow(unused_imports)]
                use $crate::__private::array::{NoElements as _, ViaElements as _};
                let probe = $crate::__private::item::Probe::<($ta, $r)>(::std::marker::PhantomData);
                let f: Option<$crate::__private::array::MapFn<$ta, $r>> = (&probe).array_map_fn();
                f.map(|f| f($name, stringify!($name), prev))
            }
            $crate::ItemUse::Collect => Some($crate::__private::item::terminal(prev)
                .and_then(|t| $crate::__private::item::finish::<$r>(usage, t))),
            _ => None,
        });
    };
    ($(#[$m:meta])* $v:vis fn $name:ident () -> Result<$r:ty, $e:ty> $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name() -> Result<$r, $e> $body }
    };
    ($(#[$m:meta])* $v:vis fn $name:ident () -> $r:ty $body:block) => {
        $crate::__private::register_fn! { $(#[$m])* $v fn $name() -> $r $body }
    };
    (@items $name:ident, $adapt:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::ITEM_FNS)]
            #[linkme(crate = $crate::__private::linkme)]
            static ITEM_FN: $crate::ItemFn = $crate::ItemFn {
                name: concat!(module_path!(), "::", stringify!($name)),
                type_id: || $crate::__private::type_id_of(&$name),
                adapt: $adapt,
            };
        };
    };
}

/// A bag aggregation that a registered item type can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AggKind {
    /// `count()`: the number of items.
    Count,
    /// `sum()`: the items added up from `T::default()`.
    Sum,
    /// `min()`: the smallest item, if any.
    Min,
    /// `max()`: the largest item, if any.
    Max,
    /// `mean()`: the sum and the count of the items as `(f64, u64)`.
    Mean,
    /// `frequencies()`: each distinct item with its count.
    Frequencies,
}

/// Where in an aggregation's tree a task sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AggStep {
    /// Folds one input partition's items (read through the chain) into a partial result.
    Partial,
    /// Merges partial results.
    Combine,
    /// The partial result of no items, for a bag with no partition.
    Empty,
    /// Finishes the last partial into the result (`topk`'s sort).
    Finish,
}

/// What an aggregation's kernel is built from.
#[doc(hidden)]
pub struct AggInput {
    /// The chain's reader, for [`AggStep::Partial`] (`None`: `Vec` partitions).
    pub reader: Option<AnyBox>,
    /// The task's inputs.
    pub deps: Vec<TaskKey>,
}

impl std::fmt::Debug for AggInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggInput")
            .field("deps", &self.deps)
            .finish()
    }
}

/// An aggregation's kernel for one step.
#[doc(hidden)]
pub type AggFn = fn(AggStep, AggInput) -> Result<Kernel>;

/// The typed code of one item type's aggregations, registered at link time (for the built-in
/// types here, and for every result type of a [`remote_fn!`](crate::remote_fn) function).
#[derive(Debug)]
pub struct ItemType {
    /// The item type.
    pub type_id: fn() -> TypeId,
    /// The kernel of `kind` at `step`, or `None` if the type cannot (`min` of a type without an
    /// order).
    pub aggregate: fn(AggKind, AggStep, AggInput) -> Option<Result<Kernel>>,
    /// `distinct()`'s shuffle functions, or `None` if the type cannot be hashed.
    pub distinct: fn() -> Option<DistinctFn>,
    /// `repartition(n)`'s kernel of one output partition.
    pub repartition: fn(RepartitionInput) -> Result<Kernel>,
}

/// `distinct()`'s shuffle functions for one item type.
#[doc(hidden)]
pub type DistinctFn = fn(crate::bag::ShuffleInput) -> Result<partita_runtime::ShuffleFns>;

/// What `repartition(n)`'s kernel of one output is built from.
#[doc(hidden)]
#[derive(Debug)]
pub struct RepartitionInput {
    /// The number of input partitions.
    pub from: usize,
    /// The number of output partitions.
    pub to: usize,
    /// The output this task makes.
    pub output: usize,
    /// The task's inputs.
    pub deps: Vec<TaskKey>,
}

/// `distinct()`'s functions for items of type `T`.
fn distinct_of<T>(input: crate::bag::ShuffleInput) -> Result<partita_runtime::ShuffleFns>
where
    T: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let reader = reader_of::<T>(input.reader)?;
    Ok(crate::bag::distinct_fns(reader, input.name, input.outputs))
}

/// `repartition(n)`'s kernel for items of type `T`.
#[doc(hidden)]
pub fn repartition_of<T: Clone + Send + Sync + 'static>(input: RepartitionInput) -> Result<Kernel> {
    crate::bag::repartition_kernel::<T>(input)
}

/// Every registered item type.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static ITEM_TYPES: [ItemType];

/// A stable number for `T` within one executable (both sides of a shipped graph run the same
/// one).
pub(crate) fn type_key(t: TypeId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

fn item_types() -> &'static FxHashMap<u64, &'static ItemType> {
    static BY_KEY: OnceLock<FxHashMap<u64, &'static ItemType>> = OnceLock::new();
    BY_KEY.get_or_init(|| {
        let mut m = FxHashMap::default();
        for t in ITEM_TYPES.iter() {
            m.entry(type_key((t.type_id)())).or_insert(t);
        }
        m
    })
}

/// The registered aggregations of the item type numbered `key`.
pub(crate) fn item_type(key: u64) -> Result<&'static ItemType> {
    item_types()
        .get(&key)
        .copied()
        .ok_or_else(|| wire(format!("no registered item type numbered {key:#x}")))
}

/// Whether `T` can be made distinct in another process.
pub(crate) fn can_distinct<T: 'static>() -> bool {
    if ITEM_TYPES.is_empty() {
        return false;
    }
    item_types()
        .get(&type_key(TypeId::of::<T>()))
        .is_some_and(|t| (t.distinct)().is_some())
}

/// Whether `T` is a registered item type.
pub(crate) fn is_item_type<T: 'static>() -> bool {
    !ITEM_TYPES.is_empty() && item_types().contains_key(&type_key(TypeId::of::<T>()))
}

/// Whether `T` can compute `kind` in another process.
pub(crate) fn can_aggregate<T: 'static>(kind: AggKind) -> bool {
    if ITEM_TYPES.is_empty() {
        return false;
    }
    item_types()
        .get(&type_key(TypeId::of::<T>()))
        .is_some_and(|t| {
            (t.aggregate)(
                kind,
                AggStep::Empty,
                AggInput {
                    reader: None,
                    deps: Vec::new(),
                },
            )
            .is_some()
        })
}

fn values<A: Clone + Send + Sync + 'static>(
    inputs: Vec<Value>,
    keys: &[TaskKey],
) -> Result<Vec<A>> {
    inputs
        .into_iter()
        .zip(keys)
        .map(|(v, k)| partita_runtime::downcast_owned::<A>(v, k))
        .collect()
}

/// Folds the chain's items of one partition with `step` from `init()`, or merges partials.
fn tree_kernel<T, A>(
    step: AggStep,
    input: AggInput,
    init: fn() -> A,
    fold: impl Fn(&mut A, T) + Send + Sync + 'static,
    merge: impl Fn(Vec<A>) -> A + Send + Sync + 'static,
) -> Result<Kernel>
where
    T: Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    match step {
        AggStep::Partial => {
            let reader = reader_of::<T>(input.reader)?;
            let [key] = input.deps.as_slice() else {
                return Err(wire("a partial aggregate reads one partition".into()));
            };
            let key = key.clone();
            Ok(Arc::new(move |mut inputs: Vec<Value>| {
                let mut acc = init();
                reader(inputs.swap_remove(0), &key, &mut |t| fold(&mut acc, t))?;
                Ok(value(acc))
            }))
        }
        AggStep::Combine => {
            let keys = input.deps;
            Ok(Arc::new(move |inputs: Vec<Value>| {
                Ok(value(merge(values::<A>(inputs, &keys)?)))
            }))
        }
        AggStep::Empty => Ok(Arc::new(move |_| Ok(value(init())))),
        AggStep::Finish => Err(wire("this aggregate has no finish step".into())),
    }
}

/// `count()`'s kernels for items of type `T`: the same fold as the local tree's.
#[doc(hidden)]
pub fn count_of<T: Clone + Send + Sync + 'static>(
    step: AggStep,
    input: AggInput,
) -> Result<Kernel> {
    tree_kernel::<T, u64>(step, input, || 0, |n, _| *n += 1, |ns| ns.iter().sum())
}

/// `sum()`'s kernels for items of type `T`.
#[doc(hidden)]
pub fn sum_of<T>(step: AggStep, input: AggInput) -> Result<Kernel>
where
    T: std::ops::Add<Output = T> + Default + Clone + Send + Sync + 'static,
{
    tree_kernel::<T, T>(
        step,
        input,
        T::default,
        |acc, t| *acc = std::mem::take(acc) + t,
        |parts| parts.into_iter().fold(T::default(), |a, b| a + b),
    )
}

/// The kernels of the extreme by `better` (`min`: `<`, `max`: `>`), as the local tree's.
fn extreme_of<T: Ord + Clone + Send + Sync + 'static>(
    step: AggStep,
    input: AggInput,
    better: fn(&T, &T) -> bool,
) -> Result<Kernel> {
    tree_kernel::<T, Option<T>>(
        step,
        input,
        || None,
        move |acc, t| fold_extreme(acc, t, better),
        move |parts| merge_extremes(parts, better),
    )
}

/// Keeps `t` in `acc` if it is `better` than what is there (the first of equals stays).
pub(crate) fn fold_extreme<T>(acc: &mut Option<T>, t: T, better: impl Fn(&T, &T) -> bool) {
    match acc {
        Some(old) if !better(&t, old) => {}
        _ => *acc = Some(t),
    }
}

/// The best of the partial extremes, the earliest of equals.
pub(crate) fn merge_extremes<T>(
    parts: Vec<Option<T>>,
    better: impl Fn(&T, &T) -> bool,
) -> Option<T> {
    parts
        .into_iter()
        .flatten()
        .reduce(|a, b| if better(&b, &a) { b } else { a })
}

/// `min()`'s kernels for items of type `T`.
#[doc(hidden)]
pub fn min_of<T: Ord + Clone + Send + Sync + 'static>(
    step: AggStep,
    input: AggInput,
) -> Result<Kernel> {
    extreme_of::<T>(step, input, |new, old| new < old)
}

/// `max()`'s kernels for items of type `T`.
#[doc(hidden)]
pub fn max_of<T: Ord + Clone + Send + Sync + 'static>(
    step: AggStep,
    input: AggInput,
) -> Result<Kernel> {
    extreme_of::<T>(step, input, |new, old| new > old)
}

/// `mean()`'s kernels: the `(sum, count)` the local tree folds.
#[doc(hidden)]
pub fn mean_of<T: crate::bag::AsF64 + Clone + Send + Sync + 'static>(
    step: AggStep,
    input: AggInput,
) -> Result<Kernel> {
    tree_kernel::<T, (f64, u64)>(step, input, || (0.0, 0), add_to_mean, merge_means)
}

/// Adds `t` to a `(sum, count)`.
pub(crate) fn add_to_mean<T: crate::bag::AsF64>(acc: &mut (f64, u64), t: T) {
    acc.0 += t.as_f64();
    acc.1 += 1;
}

/// The `(sum, count)` of partial `(sum, count)`s.
pub(crate) fn merge_means(parts: Vec<(f64, u64)>) -> (f64, u64) {
    parts
        .into_iter()
        .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// `frequencies()`' kernels: the local tree's count tables, then their pairs.
#[doc(hidden)]
pub fn frequencies_of<T>(step: AggStep, input: AggInput) -> Result<Kernel>
where
    T: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    use crate::bag::{merge_counts, Counts};
    if step == AggStep::Finish {
        let [key] = input.deps.as_slice() else {
            return Err(wire("frequencies finish from one table".into()));
        };
        let key = key.clone();
        return Ok(Arc::new(move |mut inputs: Vec<Value>| {
            let m = partita_runtime::downcast_owned::<Counts<T>>(inputs.swap_remove(0), &key)?;
            Ok(value(m.into_iter().collect::<Vec<(T, u64)>>()))
        }));
    }
    tree_kernel::<T, Counts<T>>(
        step,
        input,
        Counts::<T>::default,
        |counts, t| *counts.entry(t).or_insert(0) += 1,
        merge_counts,
    )
}

/// Picks a type's aggregations by the bounds it meets (an item type registered by
/// [`remote_fn!`](crate::remote_fn) may lack an order or an `Add`).
#[doc(hidden)]
#[derive(Debug)]
pub struct Probe<T>(pub std::marker::PhantomData<T>);

/// `sum()` for a type with `Add` and `Default`.
#[doc(hidden)]
pub trait ViaAdd {
    /// `sum()`'s kernels.
    fn sum_fn(&self) -> Option<AggFn>;
}
impl<T: std::ops::Add<Output = T> + Default + Clone + Send + Sync + 'static> ViaAdd for Probe<T> {
    fn sum_fn(&self) -> Option<AggFn> {
        Some(sum_of::<T>)
    }
}
/// No `sum()` for other types.
#[doc(hidden)]
pub trait NoAdd {
    /// None.
    fn sum_fn(&self) -> Option<AggFn> {
        None
    }
}
impl<T> NoAdd for &Probe<T> {}

/// `min()` and `max()` for an ordered type.
#[doc(hidden)]
pub trait ViaOrd {
    /// `min()`'s and `max()`'s kernels.
    fn ord_fns(&self) -> Option<(AggFn, AggFn)>;
}
impl<T: Ord + Clone + Send + Sync + 'static> ViaOrd for Probe<T> {
    fn ord_fns(&self) -> Option<(AggFn, AggFn)> {
        Some((min_of::<T>, max_of::<T>))
    }
}
/// No `min()`/`max()` for other types.
#[doc(hidden)]
pub trait NoOrd {
    /// None.
    fn ord_fns(&self) -> Option<(AggFn, AggFn)> {
        None
    }
}
impl<T> NoOrd for &Probe<T> {}

/// Keeps the `k` items with the largest keys (in no order).
pub(crate) fn keep_top<T, K: Ord>(items: &mut Vec<T>, k: usize, key: &dyn Fn(&T) -> K) {
    if items.len() > k {
        if k == 0 {
            items.clear();
            return;
        }
        items.select_nth_unstable_by(k - 1, |a, b| key(b).cmp(&key(a)));
        items.truncate(k);
    }
}

/// What a `topk` step is handed: its place in the tree, `k`, and its input.
#[doc(hidden)]
#[derive(Debug)]
pub struct TopKInput {
    /// The step.
    pub step: AggStep,
    /// How many items to keep.
    pub k: usize,
    /// The chain's reader (for partials) and the task's inputs.
    pub input: AggInput,
}

/// `topk`'s kernels for items `A` keyed by `f`.
#[doc(hidden)]
pub type TopKFn<A, K> = fn(fn(&A) -> K, TopKInput) -> Result<Kernel>;

/// `topk`'s kernel for one step: the same tree as the local `topk`'s.
#[doc(hidden)]
pub fn topk_of<A, K>(f: fn(&A) -> K, t: TopKInput) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    K: Ord + 'static,
{
    let k = t.k;
    match t.step {
        AggStep::Partial => {
            let reader = reader_of::<A>(t.input.reader)?;
            let [key] = t.input.deps.as_slice() else {
                return Err(wire("a partial top-k reads one partition".into()));
            };
            let key = key.clone();
            Ok(Arc::new(move |mut inputs: Vec<Value>| {
                let mut best: Vec<A> = Vec::new();
                reader(inputs.swap_remove(0), &key, &mut |item| {
                    best.push(item);
                    if best.len() >= 2 * k.max(1) {
                        keep_top(&mut best, k, &f);
                    }
                })?;
                Ok(value(best))
            }))
        }
        AggStep::Combine => {
            let keys = t.input.deps;
            Ok(Arc::new(move |inputs: Vec<Value>| {
                let mut all: Vec<A> = values::<Vec<A>>(inputs, &keys)?
                    .into_iter()
                    .flatten()
                    .collect();
                keep_top(&mut all, k, &f);
                Ok(value(all))
            }))
        }
        AggStep::Empty => Ok(Arc::new(|_| Ok(value(Vec::<A>::new())))),
        AggStep::Finish => {
            let keys = t.input.deps;
            Ok(Arc::new(move |inputs: Vec<Value>| {
                let mut best: Vec<A> = values::<Vec<A>>(inputs, &keys)?
                    .into_iter()
                    .flatten()
                    .collect();
                best.sort_by_key(|t| std::cmp::Reverse(f(t)));
                best.truncate(k);
                Ok(value(best))
            }))
        }
    }
}

/// `topk` keyed by a function whose key has an order.
#[doc(hidden)]
pub trait ViaOrdKey<A, K> {
    /// `topk`'s kernels.
    fn topk_fn(&self) -> Option<TopKFn<A, K>>;
}
impl<A: Clone + Send + Sync + 'static, K: Ord + 'static> ViaOrdKey<A, K> for Probe<K> {
    fn topk_fn(&self) -> Option<TopKFn<A, K>> {
        Some(topk_of::<A, K>)
    }
}
/// No `topk` by a key without an order.
#[doc(hidden)]
pub trait NoOrdKey<A, K> {
    /// None.
    fn topk_fn(&self) -> Option<TopKFn<A, K>> {
        None
    }
}
impl<A, K> NoOrdKey<A, K> for &Probe<K> {}

/// Runs a `topk` step of key function `f` (named `name`) on the [`TopKInput`] in `prev`.
#[doc(hidden)]
pub fn topk_step<A, K>(
    f: Option<TopKFn<A, K>>,
    key: fn(&A) -> K,
    name: &str,
    prev: Option<AnyBox>,
) -> Result<AnyBox> {
    let f = f.ok_or_else(|| {
        wire(format!(
            "{name}'s key has no order, so it cannot rank a topk"
        ))
    })?;
    let input = prev
        .ok_or_else(|| wire("a topk step was given no input".into()))?
        .downcast::<TopKInput>()
        .map_err(|_| wire("a topk step was given something else than its input".into()))?;
    Ok(Box::new(f(key, *input)?))
}

/// `mean()` for a type with [`AsF64`](crate::AsF64).
#[doc(hidden)]
pub trait ViaF64 {
    /// `mean()`'s kernels.
    fn mean_fn(&self) -> Option<AggFn>;
}
impl<T: crate::bag::AsF64 + Clone + Send + Sync + 'static> ViaF64 for Probe<T> {
    fn mean_fn(&self) -> Option<AggFn> {
        Some(mean_of::<T>)
    }
}
/// No `mean()` for other types.
#[doc(hidden)]
pub trait NoF64 {
    /// None.
    fn mean_fn(&self) -> Option<AggFn> {
        None
    }
}
impl<T> NoF64 for &Probe<T> {}

/// `frequencies()` and `distinct()` for a type with `Hash` and `Eq`.
#[doc(hidden)]
pub trait ViaHash {
    /// `frequencies()`' kernels.
    fn frequencies_fn(&self) -> Option<AggFn>;
    /// `distinct()`'s shuffle.
    fn distinct_fn(&self) -> Option<DistinctFn>;
}
impl<T: std::hash::Hash + Eq + Clone + Send + Sync + 'static> ViaHash for Probe<T> {
    fn frequencies_fn(&self) -> Option<AggFn> {
        Some(frequencies_of::<T>)
    }
    fn distinct_fn(&self) -> Option<DistinctFn> {
        Some(distinct_of::<T>)
    }
}
/// No `frequencies()` or `distinct()` for other types.
#[doc(hidden)]
pub trait NoHash {
    /// None.
    fn frequencies_fn(&self) -> Option<AggFn> {
        None
    }
    /// None.
    fn distinct_fn(&self) -> Option<DistinctFn> {
        None
    }
}
impl<T> NoHash for &Probe<T> {}

/// Registers the aggregations of item type `$t` at link time.
#[macro_export]
#[doc(hidden)]
macro_rules! register_item_type {
    ($t:ty) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::ITEM_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static ITEM_TYPE: $crate::ItemType = $crate::ItemType {
                type_id: ::std::any::TypeId::of::<$t>,
                aggregate: |kind, step, input| {
                    #[allow(unused_imports)]
                    use $crate::__private::item::{
                        NoAdd as _, NoF64 as _, NoHash as _, NoOrd as _, ViaAdd as _, ViaF64 as _,
                        ViaHash as _, ViaOrd as _,
                    };
                    let probe = $crate::__private::item::Probe::<$t>(::std::marker::PhantomData);
                    #[allow(unreachable_patterns)]
                    let f: Option<$crate::__private::item::AggFn> = match kind {
                        $crate::AggKind::Count => Some($crate::__private::item::count_of::<$t>),
                        $crate::AggKind::Sum => (&probe).sum_fn(),
                        $crate::AggKind::Min => (&probe).ord_fns().map(|(min, _)| min),
                        $crate::AggKind::Max => (&probe).ord_fns().map(|(_, max)| max),
                        $crate::AggKind::Mean => (&probe).mean_fn(),
                        $crate::AggKind::Frequencies => (&probe).frequencies_fn(),
                        _ => None,
                    };
                    f.map(|f| f(step, input))
                },
                distinct: || {
                    #[allow(unused_imports)]
                    use $crate::__private::item::{NoHash as _, ViaHash as _};
                    let probe = $crate::__private::item::Probe::<$t>(::std::marker::PhantomData);
                    (&probe).distinct_fn()
                },
                repartition: $crate::__private::item::repartition_of::<$t>,
            };
        };
    };
}

crate::register_item_type!(bool);
crate::register_item_type!(char);
crate::register_item_type!(i8);
crate::register_item_type!(i16);
crate::register_item_type!(i32);
crate::register_item_type!(i64);
crate::register_item_type!(u8);
crate::register_item_type!(u16);
crate::register_item_type!(u32);
crate::register_item_type!(u64);
crate::register_item_type!(usize);
crate::register_item_type!(f32);
crate::register_item_type!(f64);
crate::register_item_type!(String);
crate::register_item_type!((String, u64));
crate::register_item_type!((String, usize));
