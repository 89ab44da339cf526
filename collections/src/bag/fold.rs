//! Aggregations by user functions (`fold`, `reduction`, `foldby`) as data.
//!
//! Locally these run the tree of `reduce.rs` with the user's closures. When the bag's chain is
//! data ([`ReadPlan`]) and every function is written inside [`remote_fn!`](crate::remote_fn),
//! each task of the tree also carries an operation naming the functions: [`Fold`],
//! [`FoldBy`], [`PerPartition`] and [`Reduce`]. The far side rebuilds each kernel through the
//! function that knows the most types: a fold's step `fn(A, T) -> A` builds every step of its
//! tree (the combine `fn(A, A) -> A` and a `foldby`'s key `fn(&T) -> K` are handed to it as
//! typed function pointers), a reduction's `fn(Vec<T>) -> A` its partials and its
//! `fn(Vec<A>) -> A` the rest. Both sides build their kernels from the same functions here
//! (`partial_kernel`, `fold_into`, `foldby_step`, ...), so they cannot disagree.
//!
//! A `foldby` on the far side needs the key type `K` and the accumulator type `A` at once, and
//! no single user function names both: the step names `A` and `T`, the key `T` and `K`. So the
//! step's entry carries `foldby`'s kernels for each built-in key type ([`FOLDBY_KEYS`]); a key
//! of another type keeps the `foldby` local, and shipping it names the layer.

use std::any::TypeId;
use std::hash::Hash;
use std::sync::Arc;

use partita_runtime::{
    decode_value, downcast_owned, encode_value, value, Error, Kernel, Operation, Result,
    TaskContext, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use super::plan::{kernel_of, one_input, ReadPlan};
use super::portable::{maybe_reader, put, store, take, Entries, Maybe};
use super::reduce::{combine_kernel, empty_kernel, finish_kernel, partial_kernel, Ordered};
use crate::item_fn::{
    apply, item_fn_name, reader_of, terminal, wire, AggInput, AggStep, AnyBox, ItemUse,
};
use crate::layer::{register_op, Op};

/// Folds `t` into the accumulator with `step` (the accumulator is always there; `Option` lets
/// `step` take it by value).
pub(super) fn fold_into<A, T>(acc: &mut Option<A>, t: T, step: &impl Fn(A, T) -> A) {
    if let Some(a) = acc.take() {
        *acc = Some(step(a, t));
    }
}

/// A fold's merge of partial accumulators with `combine`.
pub(super) fn merge_folds<A>(parts: Vec<Option<A>>, combine: &impl Fn(A, A) -> A) -> Option<A> {
    parts.into_iter().flatten().reduce(combine)
}

/// A reduction's partial: the one value of a partition of `perpartition` results.
pub(super) fn keep_last<A>(acc: &mut Option<A>, a: A) {
    *acc = Some(a);
}

/// A reduction's merge: `aggregate` of the partials.
pub(super) fn aggregate_parts<A>(
    parts: Vec<Option<A>>,
    aggregate: &impl Fn(Vec<A>) -> A,
) -> Option<A> {
    Some(aggregate(parts.into_iter().flatten().collect()))
}

/// Folds `t` into its key's accumulator (`binop(initial, t)` for a new key).
pub(super) fn foldby_step<T, K, A>(
    groups: &mut Ordered<K, A>,
    t: T,
    key: &impl Fn(&T) -> K,
    binop: &impl Fn(A, T) -> A,
    initial: &A,
) where
    K: Hash + Eq + Clone,
    A: Clone,
{
    let k = key(&t);
    match groups.get_mut(&k) {
        Some(acc) => {
            let a = std::mem::replace(acc, initial.clone());
            *acc = binop(a, t);
        }
        None => groups.insert_new(k, binop(initial.clone(), t)),
    }
}

/// `foldby`'s merge: the groups of every partial in turn, accumulators of a shared key combined.
pub(super) fn foldby_merge<K, A>(
    parts: Vec<Ordered<K, A>>,
    combine: &impl Fn(A, A) -> A,
) -> Ordered<K, A>
where
    K: Hash + Eq + Clone,
    A: Clone,
{
    Ordered::concat(parts, |x, y| {
        let old = std::mem::replace(x, y.clone());
        *x = combine(old, y);
    })
}

/// `foldby`'s result: its `(key, accumulator)` pairs, keys in order of first appearance.
pub(super) fn foldby_pairs<K: Hash + Eq + Clone, A>(groups: Ordered<K, A>) -> Vec<(K, A)> {
    groups.into_pairs().collect()
}

/// The kernel of the last step of a `fold` or a `reduction`: the accumulator of task `root`,
/// which the tree always fills.
pub(super) fn some_kernel<A: Clone + Send + Sync + 'static>(root: TaskKey, out: TaskKey) -> Kernel {
    Arc::new(
        move |mut inputs: Vec<Value>| match take::<Maybe<A>>(inputs.swap_remove(0), &root)? {
            Some(a) => Ok(value(a)),
            None => Err(Error::failed(out.clone(), "the aggregate has no value")),
        },
    )
}

/// A value carried in an operation's parameters, encoded by its registered codec.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Literal {
    codec: String,
    bytes: Vec<u8>,
}

impl Literal {
    /// `a` encoded, when its type has a registered codec.
    pub(super) fn of<A: Clone + Send + Sync + 'static>(a: &A) -> Option<Literal> {
        let (codec, bytes) = encode_value("an initial value", &value(a.clone())).ok()?;
        Some(Literal {
            codec: codec.to_string(),
            bytes,
        })
    }

    fn value(&self) -> Result<Value> {
        decode_value("an initial value", &self.codec, &self.bytes)
    }
}

/// What a fold step's entry is handed to build one task's kernel.
#[doc(hidden)]
pub struct FoldInput {
    /// The step of the tree.
    pub step: AggStep,
    /// The chain's reader (for partials) and the task's inputs.
    pub input: AggInput,
    /// The task being built.
    pub out: TaskKey,
    /// The initial accumulator (for partials and the empty partial).
    pub initial: Option<Value>,
    /// The combine `fn(A, A) -> A`, as a function pointer (for merges).
    pub merge: Option<AnyBox>,
    /// A `foldby`'s key `fn(&T) -> K`, as a function pointer.
    pub key: Option<AnyBox>,
}

impl std::fmt::Debug for FoldInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoldInput")
            .field("step", &self.step)
            .field("out", &self.out)
            .finish()
    }
}

impl FoldInput {
    fn partial_key(&self) -> Result<TaskKey> {
        match self.input.deps.as_slice() {
            [one] => Ok(one.clone()),
            other => Err(wire(format!(
                "{}: a partial reads one partition, not {}",
                self.out,
                other.len()
            ))),
        }
    }

    fn initial<A: Clone + Send + Sync + 'static>(&self) -> Result<A> {
        let v = self
            .initial
            .clone()
            .ok_or_else(|| wire(format!("{}: no initial value", self.out)))?;
        downcast_owned::<A>(v, &self.out)
    }

    fn merge<A: 'static>(&self) -> Result<fn(A, A) -> A> {
        pointer::<fn(A, A) -> A>(self.merge.as_ref(), &self.out, "combine")
    }

    fn root(&self) -> Result<TaskKey> {
        match self.input.deps.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(wire(format!("{}: a finish reads the root", self.out))),
        }
    }
}

/// The function pointer of type `F` in `b`.
fn pointer<F: Copy + 'static>(b: Option<&AnyBox>, out: &TaskKey, what: &str) -> Result<F> {
    b.and_then(|b| b.downcast_ref::<F>())
        .copied()
        .ok_or_else(|| {
            wire(format!(
                "{out}: the {what} function is not a {}",
                std::any::type_name::<F>()
            ))
        })
}

/// A fold step's kernels, for a step `fn(X, Y) -> R` that is one (`R` is `X`).
#[doc(hidden)]
pub type FoldFn<X, Y, R> = fn(fn(X, Y) -> R, ItemUse, FoldInput) -> Result<Kernel>;

/// A fold step: the first argument's type is the result's.
#[doc(hidden)]
pub trait ViaAcc<X, Y, R> {
    /// The step's kernels.
    fn fold_fn(&self) -> Option<FoldFn<X, Y, R>>;
}
impl<A, T> ViaAcc<A, T, A> for crate::item_fn::Probe<(A, A, T)>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    fn fold_fn(&self) -> Option<FoldFn<A, T, A>> {
        Some(fold_uses::<A, T>)
    }
}
/// Not a fold step.
#[doc(hidden)]
pub trait NoAcc<X, Y, R> {
    /// None.
    fn fold_fn(&self) -> Option<FoldFn<X, Y, R>> {
        None
    }
}
impl<X, Y, R> NoAcc<X, Y, R> for &crate::item_fn::Probe<(X, R, Y)> {}

/// Runs fold step `func` (named `name`) as `usage` on the [`FoldInput`] in `prev`.
#[doc(hidden)]
pub fn fold_step<X, Y, R>(
    f: Option<FoldFn<X, Y, R>>,
    func: fn(X, Y) -> R,
    name: &str,
    usage: ItemUse,
    prev: Option<AnyBox>,
) -> Result<AnyBox> {
    let f = f.ok_or_else(|| {
        wire(format!(
            "{name} returns another type than its first argument's, so it cannot fold"
        ))
    })?;
    let input = prev
        .ok_or_else(|| wire("a fold step was given no input".into()))?
        .downcast::<FoldInput>()
        .map_err(|_| wire("a fold step was given something else than its input".into()))?;
    Ok(Box::new(f(func, usage, *input)?))
}

/// The kernels of fold step `step` as `usage` (`Fold`, `FoldBy`).
fn fold_uses<A, T>(step: fn(A, T) -> A, usage: ItemUse, input: FoldInput) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    match usage {
        ItemUse::Fold => fold_kernel::<A, T>(step, input),
        ItemUse::FoldBy => foldby_of::<A, T>(step, input),
        other => Err(wire(format!("a fold step cannot be used as {other:?}"))),
    }
}

/// A `fold`'s kernel at one step, as the local tree builds it.
fn fold_kernel<A, T>(step: fn(A, T) -> A, input: FoldInput) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    match input.step {
        AggStep::Partial => {
            let key = input.partial_key()?;
            let initial = input.initial::<A>()?;
            let reader = reader_of::<T>(input.input.reader)?;
            Ok(partial_kernel(
                reader,
                key,
                Arc::new(move || Some(initial.clone())),
                Arc::new(move |acc: &mut Option<A>, t| fold_into(acc, t, &step)),
                store::<Maybe<A>>(),
            ))
        }
        AggStep::Empty => {
            let initial = input.initial::<A>()?;
            Ok(empty_kernel(
                Arc::new(move || Some(initial.clone())),
                store::<Maybe<A>>(),
            ))
        }
        AggStep::Combine => {
            let merge = input.merge::<A>()?;
            Ok(combine_kernel(
                input.input.deps,
                Arc::new(move |parts| merge_folds(parts, &merge)),
                store::<Maybe<A>>(),
            ))
        }
        AggStep::Finish => Ok(some_kernel::<A>(input.root()?, input.out)),
    }
}

/// The key types a shipped `foldby` can group by: `$then!` of the list.
macro_rules! foldby_keys {
    ($then:ident) => {
        $then!(bool, char, i8, i16, i32, i64, u8, u16, u32, u64, usize, String)
    };
}

/// The names of the key types a shipped `foldby` can group by.
pub(crate) const FOLDBY_KEYS: &str = {
    macro_rules! names {
        ($($k:ty),*) => { concat!($(stringify!($k), " "),*) };
    }
    foldby_keys!(names)
};

/// Whether a `foldby` keyed by `K` can leave the process.
pub(super) fn ships_foldby_key<K: 'static>() -> bool {
    let k = TypeId::of::<K>();
    macro_rules! any {
        ($($t:ty),*) => { false $(|| k == TypeId::of::<$t>())* };
    }
    foldby_keys!(any)
}

/// `foldby`'s kernel at one step, for the key type of the key function in `input`.
fn foldby_of<A, T>(binop: fn(A, T) -> A, input: FoldInput) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    let key = input
        .key
        .as_ref()
        .ok_or_else(|| wire(format!("{}: foldby without its key function", input.out)))?;
    macro_rules! by_key {
        ($($k:ty),*) => {
            $(
                if key.is::<fn(&T) -> $k>() {
                    return foldby_kernel::<A, T, $k>(binop, input);
                }
            )*
        };
    }
    foldby_keys!(by_key);
    Err(wire(format!(
        "{}: foldby's key must be a function of the items into one of: {FOLDBY_KEYS}",
        input.out
    )))
}

/// `foldby`'s kernel at one step, as the local tree builds it.
fn foldby_kernel<A, T, K>(binop: fn(A, T) -> A, input: FoldInput) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    match input.step {
        AggStep::Partial => {
            let key = pointer::<fn(&T) -> K>(input.key.as_ref(), &input.out, "key")?;
            let initial = input.initial::<A>()?;
            let partition = input.partial_key()?;
            let reader = reader_of::<T>(input.input.reader)?;
            Ok(partial_kernel(
                reader,
                partition,
                Arc::new(Ordered::<K, A>::default),
                Arc::new(move |groups: &mut Ordered<K, A>, t| {
                    foldby_step(groups, t, &key, &binop, &initial)
                }),
                store::<Entries<K, A>>(),
            ))
        }
        AggStep::Empty => Ok(empty_kernel(
            Arc::new(Ordered::<K, A>::default),
            store::<Entries<K, A>>(),
        )),
        AggStep::Combine => {
            let merge = input.merge::<A>()?;
            Ok(combine_kernel(
                input.input.deps,
                Arc::new(move |parts| foldby_merge::<K, A>(parts, &merge)),
                store::<Entries<K, A>>(),
            ))
        }
        AggStep::Finish => Ok(finish_kernel(
            input.root()?,
            Arc::new(foldby_pairs::<K, A>),
            store::<Entries<K, A>>(),
        )),
    }
}

/// `reduction`'s first layer on one partition: `Some(f(items))`, the items read through the
/// chain, as the tree's partials read it.
#[doc(hidden)]
pub fn per_partition<T, A>(f: fn(Vec<T>) -> A, prev: Option<AnyBox>) -> Result<AnyBox>
where
    T: Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    let t = terminal(prev)?;
    let reader = reader_of::<T>(t.prev)?;
    let input = t.input;
    let kernel: Kernel = Arc::new(move |mut inputs: Vec<Value>| {
        let mut items: Vec<T> = Vec::new();
        reader(inputs.swap_remove(0), &input, &mut |x| items.push(x))?;
        Ok(put::<Maybe<A>>(Some(f(items))))
    });
    Ok(Box::new(kernel))
}

/// A reduction's aggregate kernels, for an `fn(Vec<X>) -> R` that is one (`R` is `X`).
#[doc(hidden)]
pub type AggregateFn<X, R> = fn(fn(Vec<X>) -> R, FoldInput) -> Result<Kernel>;

/// An aggregate: the items' type is the result's.
#[doc(hidden)]
pub trait ViaSame<X, R> {
    /// The aggregate's kernels.
    fn aggregate_fn(&self) -> Option<AggregateFn<X, R>>;
}
impl<A: Clone + Send + Sync + 'static> ViaSame<A, A> for crate::item_fn::Probe<(A, A)> {
    fn aggregate_fn(&self) -> Option<AggregateFn<A, A>> {
        Some(aggregate_kernel::<A>)
    }
}
/// Not an aggregate.
#[doc(hidden)]
pub trait NoSame<X, R> {
    /// None.
    fn aggregate_fn(&self) -> Option<AggregateFn<X, R>> {
        None
    }
}
impl<X, R> NoSame<X, R> for &crate::item_fn::Probe<(X, R)> {}

/// Runs aggregate `func` (named `name`) on the [`FoldInput`] in `prev`.
#[doc(hidden)]
pub fn aggregate_step<X, R>(
    f: Option<AggregateFn<X, R>>,
    func: fn(Vec<X>) -> R,
    name: &str,
    prev: Option<AnyBox>,
) -> Result<AnyBox> {
    let f = f.ok_or_else(|| {
        wire(format!(
            "{name} returns another type than its items', so it cannot aggregate"
        ))
    })?;
    let input = prev
        .ok_or_else(|| wire("an aggregate step was given no input".into()))?
        .downcast::<FoldInput>()
        .map_err(|_| wire("an aggregate step was given something else than its input".into()))?;
    Ok(Box::new(f(func, *input)?))
}

/// A `reduction`'s kernel at one step of its tree, as the local tree builds it.
fn aggregate_kernel<A: Clone + Send + Sync + 'static>(
    aggregate: fn(Vec<A>) -> A,
    input: FoldInput,
) -> Result<Kernel> {
    match input.step {
        AggStep::Partial => {
            let key = input.partial_key()?;
            // The partitions of `perpartition` results, as `per_partition` writes them.
            Ok(partial_kernel(
                maybe_reader::<A>(),
                key,
                Arc::new(|| None),
                Arc::new(keep_last::<A>),
                store::<Maybe<A>>(),
            ))
        }
        AggStep::Empty => Ok(empty_kernel(Arc::new(|| None::<A>), store::<Maybe<A>>())),
        AggStep::Combine => Ok(combine_kernel(
            input.input.deps,
            Arc::new(move |parts| aggregate_parts(parts, &aggregate)),
            store::<Maybe<A>>(),
        )),
        AggStep::Finish => Ok(some_kernel::<A>(input.root()?, input.out)),
    }
}

/// One step of `fold(initial, step, combine)`'s tree, `step` and `combine` registered functions.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Fold {
    step_fn: String,
    combine_fn: String,
    initial: Literal,
    step: AggStep,
    /// The chain, for partials.
    plan: Option<ReadPlan>,
}

impl Fold {
    /// The fold of a bag with chain `plan`, if its functions are registered and `initial` has a
    /// codec; at its partial step.
    pub(super) fn describe<S: 'static, C: 'static, A: Clone + Send + Sync + 'static>(
        plan: Option<&ReadPlan>,
        initial: &A,
    ) -> Option<Fold> {
        Some(Fold {
            step_fn: item_fn_name::<S>()?.to_string(),
            combine_fn: item_fn_name::<C>()?.to_string(),
            initial: Literal::of(initial)?,
            step: AggStep::Partial,
            plan: Some(plan?.clone()),
        })
    }

    /// This fold at `step`.
    pub(super) fn at(&self, step: AggStep) -> Operation {
        let plan = (step == AggStep::Partial)
            .then(|| self.plan.clone())
            .flatten();
        Operation::new(
            Self::NAME,
            &Fold {
                step,
                plan,
                ..self.clone()
            },
        )
    }
}

/// The [`FoldInput`] of a fold's or a foldby's task.
fn fold_input(
    cx: TaskContext<'_>,
    step: AggStep,
    plan: Option<&ReadPlan>,
    initial: &Literal,
    combine_fn: &str,
) -> Result<FoldInput> {
    let reader = match (plan, step) {
        (Some(plan), AggStep::Partial) => plan.reader()?,
        (None, AggStep::Partial) => {
            return Err(wire(format!("{}: a partial needs its chain", cx.key)));
        }
        _ => None,
    };
    let initial = match step {
        AggStep::Partial | AggStep::Empty => Some(initial.value()?),
        _ => None,
    };
    let merge = match step {
        AggStep::Combine => Some(apply(combine_fn, ItemUse::Pointer, None)?),
        _ => None,
    };
    Ok(FoldInput {
        step,
        input: AggInput {
            reader,
            deps: cx.deps.to_vec(),
        },
        out: cx.key.clone(),
        initial,
        merge,
        key: None,
    })
}

impl Op for Fold {
    const NAME: &'static str = "bag.fold";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let input = fold_input(
            cx,
            self.step,
            self.plan.as_ref(),
            &self.initial,
            &self.combine_fn,
        )?;
        kernel_of(apply(&self.step_fn, ItemUse::Fold, Some(Box::new(input)))?)
    }
}

register_op!(Fold);

/// One step of `foldby(key, binop, initial, combine)`'s tree, its functions registered.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct FoldBy {
    key_fn: String,
    binop_fn: String,
    combine_fn: String,
    initial: Literal,
    step: AggStep,
    /// The chain, for partials.
    plan: Option<ReadPlan>,
}

impl FoldBy {
    /// The foldby of a bag with chain `plan`, if its functions are registered, its key type is
    /// one of [`FOLDBY_KEYS`] and `initial` has a codec; at its partial step.
    pub(super) fn describe<KF: 'static, B: 'static, C: 'static, K: 'static, A>(
        plan: Option<&ReadPlan>,
        initial: &A,
    ) -> Option<FoldBy>
    where
        A: Clone + Send + Sync + 'static,
    {
        if !ships_foldby_key::<K>() {
            return None;
        }
        Some(FoldBy {
            key_fn: item_fn_name::<KF>()?.to_string(),
            binop_fn: item_fn_name::<B>()?.to_string(),
            combine_fn: item_fn_name::<C>()?.to_string(),
            initial: Literal::of(initial)?,
            step: AggStep::Partial,
            plan: Some(plan?.clone()),
        })
    }

    /// This foldby at `step`.
    pub(super) fn at(&self, step: AggStep) -> Operation {
        let plan = (step == AggStep::Partial)
            .then(|| self.plan.clone())
            .flatten();
        Operation::new(
            Self::NAME,
            &FoldBy {
                step,
                plan,
                ..self.clone()
            },
        )
    }
}

impl Op for FoldBy {
    const NAME: &'static str = "bag.foldby";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let mut input = fold_input(
            cx,
            self.step,
            self.plan.as_ref(),
            &self.initial,
            &self.combine_fn,
        )?;
        input.key = Some(apply(&self.key_fn, ItemUse::Key, None)?);
        kernel_of(apply(
            &self.binop_fn,
            ItemUse::FoldBy,
            Some(Box::new(input)),
        )?)
    }
}

register_op!(FoldBy);

/// `reduction`'s first layer: `vec![perpartition(items)]` of each partition, `perpartition` a
/// registered function.
#[derive(Serialize, Deserialize)]
pub(super) struct PerPartition {
    pub(super) plan: ReadPlan,
    pub(super) f: String,
}

impl Op for PerPartition {
    const NAME: &'static str = "bag.per_partition";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let terminal = crate::item_fn::Terminal {
            prev: self.plan.reader()?,
            after: ItemUse::PerPartition,
            input: one_input(cx)?,
        };
        kernel_of(apply(
            &self.f,
            ItemUse::PerPartition,
            Some(Box::new(terminal)),
        )?)
    }
}

register_op!(PerPartition);

/// One step of `reduction`'s tree over the partitions of `perpartition` results, `aggregate` a
/// registered function.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Reduce {
    pub(super) aggregate_fn: String,
    pub(super) step: AggStep,
}

impl Op for Reduce {
    const NAME: &'static str = "bag.reduction";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let input = FoldInput {
            step: self.step,
            input: AggInput {
                reader: None,
                deps: cx.deps.to_vec(),
            },
            out: cx.key.clone(),
            initial: None,
            merge: None,
            key: None,
        };
        kernel_of(apply(
            &self.aggregate_fn,
            ItemUse::Aggregate,
            Some(Box::new(input)),
        )?)
    }
}

register_op!(Reduce);
