//! User functions that can leave the process: named at link time, called by name on the far side.
//!
//! A plain closure has no name another process could look up, so it stays local. A function
//! written inside [`register_fn!`](crate::register_fn) is registered in [`REMOTE_FNS`] under its
//! module path and is recognised by its type when a collection is given it: `delayed(load)`,
//! `x.map(inc)`, `combine(&xs, sum)`. The collection then records, beside its kernel, an
//! [`Operation`] naming the function and the [`Usage`] (which kernel shape wraps it). The far side,
//! running the same executable (checked by [`BuildId`](crate::BuildId)), finds the function by
//! name and builds the same kernel around it.

use std::any::TypeId;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::remote::name_index::NameIndex;
use crate::remote::operation::{decode_params, Operation, TaskContext};
use crate::value::{downcast, value, Kernel, Value};

/// How a collection calls a user function: each usage is one kernel shape around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Usage {
    /// `f()` with no inputs, as `delayed(f)` calls it.
    Call0,
    /// `f(&a)` on one input, as `Delayed::map` calls it.
    Ref1,
    /// `f(&a, &b)` on two inputs, as `Delayed::zip_with` calls it.
    Ref2,
    /// `f(&[&a, &b, ...])` on every input, as `combine` calls it.
    Slice,
    /// `f(a)` on one input taken by value (a clone of it), whose error fails the task with its
    /// text, as `DataFrame::map_partitions` calls it.
    TryOwned1,
    /// `f()` with no inputs, whose error fails the task with it as the source, as
    /// `Runtime::try_submit` calls it.
    TryCall0,
}

/// A registered user function. Made by [`register_fn!`](crate::register_fn).
#[derive(Debug)]
pub struct RemoteFn {
    /// The function's path, unique in the executable.
    pub name: &'static str,
    /// The type of the function item, by which a collection recognises it.
    pub type_id: fn() -> TypeId,
    /// The kernel for `usage`, or `None` if the function does not have that shape.
    pub kernel: fn(Usage, TaskContext<'_>) -> Option<Result<Kernel>>,
}

/// Every user function registered with [`register_fn!`](crate::register_fn).
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static REMOTE_FNS: [RemoteFn];

struct Index {
    by_type: FxHashMap<TypeId, &'static RemoteFn>,
    by_name: NameIndex<RemoteFn>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let by_type = REMOTE_FNS.iter().map(|f| ((f.type_id)(), f)).collect();
        let by_name = NameIndex::new(&REMOTE_FNS, |f| f.name);
        Index { by_type, by_name }
    })
}

/// The operator that calls a registered user function.
pub const USER_FN: &str = "partita.user_fn";

/// The operation calling `F` as `usage`, when `F` is a function registered with
/// [`register_fn!`](crate::register_fn); `None` for a plain closure.
pub fn user_fn_op<F: 'static>(usage: Usage) -> Option<Operation> {
    if REMOTE_FNS.is_empty() {
        return None;
    }
    let f = index().by_type.get(&TypeId::of::<F>())?;
    Some(Operation::new(USER_FN, &(f.name, usage)))
}

/// [`user_fn_op`] when `F` also has the kernel shape of `usage` (a function registered as
/// `fn() -> R` with `R` an alias of a `Result` cannot be called as [`Usage::TryCall0`]).
pub(crate) fn callable_op<F: 'static>(usage: Usage) -> Option<Operation> {
    let op = user_fn_op::<F>(usage)?;
    let f = index().by_type.get(&TypeId::of::<F>())?;
    // No task has this key: the kernel is built only to see whether the shape exists.
    let key = TaskKey::new("partita.probe", 0);
    (f.kernel)(
        usage,
        TaskContext {
            key: &key,
            deps: &[],
        },
    )?
    .ok()?;
    Some(op)
}

fn build_user_fn(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let (name, usage): (String, Usage) = decode_params(USER_FN, params)?;
    let f = index().by_name.get("user function", &name)?;
    (f.kernel)(usage, cx).unwrap_or_else(|| {
        Err(Error::wire(format!(
            "user function {name} cannot be called as {usage:?}"
        )))
    })
}

crate::register_operator!(USER_FN, build_user_fn);

fn arity(cx: TaskContext<'_>, n: usize) -> Result<()> {
    if cx.deps.len() == n {
        Ok(())
    } else {
        Err(Error::wire(format!(
            "task {} has {} inputs, its function takes {n}",
            cx.key,
            cx.deps.len()
        )))
    }
}

/// The type of a value's type, for [`register_fn!`](crate::register_fn).
#[doc(hidden)]
pub fn type_id_of<T: 'static>(_: &T) -> TypeId {
    TypeId::of::<T>()
}

/// [`Usage::Call0`]'s kernel.
#[doc(hidden)]
pub fn call0<R: Send + Sync + 'static>(f: fn() -> R, cx: TaskContext<'_>) -> Result<Kernel> {
    arity(cx, 0)?;
    Ok(Arc::new(move |_| Ok(value(f()))))
}

/// [`Usage::TryCall0`]'s kernel for a function returning `Result<R, E>`.
#[doc(hidden)]
pub type TryCall0Fn<R, E> =
    fn(fn() -> std::result::Result<R, E>, TaskContext<'_>) -> Result<Kernel>;

/// [`Usage::TryCall0`]'s kernel: the error fails the task as `Runtime::try_submit`'s does.
#[doc(hidden)]
pub fn try_call0<R, E>(f: fn() -> std::result::Result<R, E>, cx: TaskContext<'_>) -> Result<Kernel>
where
    R: Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    arity(cx, 0)?;
    let key = cx.key.clone();
    Ok(Arc::new(move |_| {
        f().map(value).map_err(|e| Error::failed_from(&key, e))
    }))
}

/// Picks a function's kernel shapes by the bounds its types meet, for
/// [`register_fn!`](crate::register_fn) (a `Result`'s error type may not be an error).
#[doc(hidden)]
#[derive(Debug)]
pub struct Probe<T>(pub std::marker::PhantomData<T>);

/// [`Usage::TryCall0`] for a `Result<R, E>` whose `E` converts into a boxed error.
#[doc(hidden)]
pub trait ViaError<R, E> {
    /// The kernel.
    fn try_call0_fn(&self) -> Option<TryCall0Fn<R, E>>;
}
impl<R, E> ViaError<R, E> for Probe<(R, E)>
where
    R: Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    fn try_call0_fn(&self) -> Option<TryCall0Fn<R, E>> {
        Some(try_call0::<R, E>)
    }
}
/// No [`Usage::TryCall0`] for other error types.
#[doc(hidden)]
pub trait NoError<R, E> {
    /// None.
    fn try_call0_fn(&self) -> Option<TryCall0Fn<R, E>> {
        None
    }
}
impl<R, E> NoError<R, E> for &Probe<(R, E)> {}

/// [`Usage::Ref1`]'s kernel.
#[doc(hidden)]
pub fn ref1<A: 'static, R: Send + Sync + 'static>(
    f: fn(&A) -> R,
    cx: TaskContext<'_>,
) -> Result<Kernel> {
    arity(cx, 1)?;
    let input: TaskKey = cx.deps[0].clone();
    Ok(Arc::new(move |inputs: Vec<Value>| {
        Ok(value(f(downcast::<A>(&inputs[0], &input)?)))
    }))
}

/// [`Usage::Ref2`]'s kernel.
#[doc(hidden)]
pub fn ref2<A: 'static, B: 'static, R: Send + Sync + 'static>(
    f: fn(&A, &B) -> R,
    cx: TaskContext<'_>,
) -> Result<Kernel> {
    arity(cx, 2)?;
    let (ka, kb) = (cx.deps[0].clone(), cx.deps[1].clone());
    Ok(Arc::new(move |inputs: Vec<Value>| {
        let a = downcast::<A>(&inputs[0], &ka)?;
        let b = downcast::<B>(&inputs[1], &kb)?;
        Ok(value(f(a, b)))
    }))
}

/// [`Usage::Slice`]'s kernel.
#[doc(hidden)]
pub fn slice<A: 'static, R: Send + Sync + 'static>(
    f: fn(&[&A]) -> R,
    cx: TaskContext<'_>,
) -> Result<Kernel> {
    let keys: Vec<TaskKey> = cx.deps.to_vec();
    Ok(Arc::new(move |inputs: Vec<Value>| {
        let vs = inputs
            .iter()
            .zip(&keys)
            .map(|(v, k)| downcast::<A>(v, k))
            .collect::<Result<Vec<&A>>>()?;
        Ok(value(f(&vs)))
    }))
}

/// [`Usage::TryOwned1`]'s kernel.
#[doc(hidden)]
pub fn try_owned1<A, R, E>(
    f: fn(A) -> std::result::Result<R, E>,
    cx: TaskContext<'_>,
) -> Result<Kernel>
where
    A: Clone + Send + Sync + 'static,
    R: Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    arity(cx, 1)?;
    let (input, out) = (cx.deps[0].clone(), cx.key.clone());
    Ok(Arc::new(move |inputs: Vec<Value>| {
        let a = downcast::<A>(&inputs[0], &input)?.clone();
        f(a).map(value)
            .map_err(|e| Error::failed_by(out.clone(), e))
    }))
}

/// Defines a function and registers it at link time for the kernel shapes, so that a graph that
/// calls it can leave the process. Programs use `partita::remote_fn!`, which builds on this one
/// and also registers the item shapes that bags use.
///
/// The shape of its signature says how collections may call it: `fn() -> R` for `delayed` and
/// `Runtime::submit` (`fn() -> Result<R, E>` also for `Runtime::try_submit`),
/// `fn(&A) -> R` for `Delayed::map`, `fn(&A, &B) -> R` for `zip_with`, and `fn(&[&A]) -> R` for
/// `combine`. Values a function needs beyond its inputs travel as inputs: `from_value(x)`.
///
/// ```
/// use partita_runtime::{register_fn, user_fn_op, Usage};
///
/// register_fn! {
///     /// Adds one.
///     fn inc(x: &u64) -> u64 { x + 1 }
/// }
///
/// assert_eq!(inc(&1), 2);
/// fn of<F: 'static>(_: &F) -> Option<partita_runtime::Operation> { user_fn_op::<F>(Usage::Ref1) }
/// assert!(of(&inc).is_some());
/// assert!(of(&|x: &u64| x + 1).is_none());
/// ```
#[macro_export]
macro_rules! register_fn {
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : &[& $ta:ty] ) -> $r:ty $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: &[&$ta]) -> $r $body
        $crate::register_fn!(@register $name, Slice, |cx| $crate::__private::slice::<$ta, $r>($name, cx));
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty , $b:ident : & $tb:ty ) -> $r:ty $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: &$ta, $b: &$tb) -> $r $body
        $crate::register_fn!(@register $name, Ref2, |cx| $crate::__private::ref2::<$ta, $tb, $r>($name, cx));
    };
    ($(#[$m:meta])* $v:vis fn $name:ident ( $a:ident : & $ta:ty ) -> $r:ty $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name($a: &$ta) -> $r $body
        $crate::register_fn!(@register $name, Ref1, |cx| $crate::__private::ref1::<$ta, $r>($name, cx));
    };
    ($(#[$m:meta])* $v:vis fn $name:ident () -> Result<$r:ty, $e:ty> $body:block) => {
        $(#[$m])* $v fn $name() -> Result<$r, $e> $body
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::REMOTE_FNS)]
            #[linkme(crate = $crate::__private::linkme)]
            static REMOTE_FN: $crate::RemoteFn = $crate::RemoteFn {
                name: concat!(module_path!(), "::", stringify!($name)),
                type_id: || $crate::__private::type_id_of(&$name),
                kernel: |usage, cx| match usage {
                    $crate::Usage::Call0 => Some($crate::__private::call0::<Result<$r, $e>>($name, cx)),
                    $crate::Usage::TryCall0 => {
                        #[allow(unused_imports)]
                        use $crate::__private::{NoError as _, ViaError as _};
                        let probe = $crate::__private::Probe::<($r, $e)>(::std::marker::PhantomData);
                        let f: Option<$crate::__private::TryCall0Fn<$r, $e>> = (&probe).try_call0_fn();
                        f.map(|f| f($name, cx))
                    }
                    _ => None,
                },
            };
        };
    };
    ($(#[$m:meta])* $v:vis fn $name:ident () -> $r:ty $body:block) => {
        // The signature is the collection's item type taken by reference (`&String`, `&Vec<T>`).
        #[allow(clippy::ptr_arg)]
        $(#[$m])* $v fn $name() -> $r $body
        $crate::register_fn!(@register $name, Call0, |cx| $crate::__private::call0::<$r>($name, cx));
    };
    (@register $name:ident, $usage:ident, |$cx:ident| $kernel:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::REMOTE_FNS)]
            #[linkme(crate = $crate::__private::linkme)]
            static REMOTE_FN: $crate::RemoteFn = $crate::RemoteFn {
                name: concat!(module_path!(), "::", stringify!($name)),
                type_id: || $crate::__private::type_id_of(&$name),
                kernel: |usage, $cx| match usage {
                    $crate::Usage::$usage => Some($kernel),
                    _ => None,
                },
            };
        };
    };
}
