//! Streams as data: a pipeline whose every stage is a registered function can leave the process.
//!
//! Beside its closures, a [`Stream`] keeps the names of the steps it was built from: its source,
//! the [`remote_fn!`](crate::remote_fn) functions of its `map`, `filter`, `flat_map`,
//! `with_timestamps` and `key_by`, and its windows and their aggregations. A plain closure ends
//! the plan, remembering the stage it was given to. [`Topology::delayed`] turns a pipeline whose
//! plan is whole into one task of a graph ([`RunPipeline`]), which ships like any other: the far
//! side rebuilds the typed pipeline from the names, runs it to its end on its runtime, and sends
//! back what the sink made.
//!
//! The rebuild is typed by the functions themselves. Each `remote_fn!` entry knows its argument
//! and result types, so it takes the stream so far as an [`ErasedStream`] of its argument type and
//! hands back one of its result type; `key_by`'s function makes an [`ErasedKeyed`] that knows the
//! key type its window aggregations need.

use std::any::Any;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use partita_runtime::{value, ErrorPolicy, Graph, Kernel, Result, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::{Stream, Topology, Window};
use crate::delayed::Delayed;
use crate::item_fn::{apply, wire, AnyBox, ItemUse, Probe};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// One step of a stream kept as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    /// `Stream::generate(n, per_second, f)`.
    Generate {
        n: Option<u64>,
        per_second: Option<f64>,
        f: String,
    },
    /// `Stream::tail(path)`.
    Tail { path: PathBuf },
    /// `map(f)`.
    Map(String),
    /// `filter(f)`.
    Filter(String),
    /// `flat_map(f)`.
    FlatMap(String),
    /// `with_timestamps(f, lateness)`.
    Timestamps { f: String, lateness: i64 },
    /// `union(other)`: the other stream's steps.
    Union(Vec<Step>),
    /// `key_by(f)`, run as `parallelism` actors.
    KeyBy { f: String, parallelism: usize },
    /// `window(window)` then an aggregation of `value(record)` (`count` has no function).
    Window {
        window: Window,
        agg: WindowAgg,
        value: Option<String>,
    },
}

/// A stream's steps, or the stage whose plain closure keeps it in this process.
pub(crate) type Plan = std::result::Result<Vec<Step>, &'static str>;

/// The plan of `plan` followed by the step `make(name)` of the registered function `F`; a plain
/// closure ends the plan at `stage`.
pub(crate) fn then<F: 'static>(
    plan: &Plan,
    stage: &'static str,
    make: impl FnOnce(String) -> Step,
) -> Plan {
    let mut steps = plan.clone()?;
    let name = crate::item_fn::item_fn_name::<F>().ok_or(stage)?;
    steps.push(make(name.to_string()));
    Ok(steps)
}

/// A window aggregation that a shipped pipeline can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WindowAgg {
    Sum,
    Count,
    Mean,
    Min,
    Max,
}

/// Where a shipped pipeline's records end.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum SinkPlan {
    /// `collect(max)`.
    Collect { max: usize },
    /// `count()`.
    Count,
}

/// A whole pipeline as data: its steps, its sink and its settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TopologyPlan {
    pub(crate) steps: Vec<Step>,
    pub(crate) sink: SinkPlan,
    /// `on_error(ErrorPolicy::Skip)`; otherwise the run fails on a failed record.
    pub(crate) skip_errors: bool,
    pub(crate) capacity: usize,
    pub(crate) batch: usize,
}

impl TopologyPlan {
    fn settings<R: Send + 'static>(&self, t: Topology<R>) -> Topology<R> {
        let policy = if self.skip_errors {
            ErrorPolicy::Skip
        } else {
            ErrorPolicy::Fail
        };
        t.on_error(policy)
            .capacity(self.capacity)
            .batch_size(self.batch)
    }
}

/// The operation that runs a shipped pipeline to its end and yields what its sink made.
#[derive(Serialize, Deserialize)]
pub(crate) struct RunPipeline {
    plan: TopologyPlan,
}

impl Op for RunPipeline {
    const NAME: &'static str = "stream.pipeline";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let plan = self.plan.clone();
        let key = cx.key.clone();
        Ok(Arc::new(move |_| {
            run(&plan).map_err(|e| match e {
                crate::Error::Runtime(e) => e,
                other => partita_runtime::Error::failed_by(key.clone(), other),
            })
        }))
    }
}
register_op!(RunPipeline);

/// Rebuilds the pipeline of `plan`, runs it on the current runtime until its stream ends, and
/// returns the sink's result.
fn run(plan: &TopologyPlan) -> crate::Result<Value> {
    let stream = rebuild(&plan.steps)?;
    (stream.run)(stream, plan)
}

/// What a rebuild has so far: a stream, or a keyed one waiting for its window.
enum State {
    Plain(ErasedStream),
    Keyed(ErasedKeyed),
}

fn rebuild(steps: &[Step]) -> Result<ErasedStream> {
    let (first, rest) = steps
        .split_first()
        .ok_or_else(|| wire("a shipped stream has no source".into()))?;
    let source = match first {
        Step::Generate { n, per_second, f } => unbox(apply(
            f,
            ItemUse::StreamSource,
            Some(Box::new(GenerateArgs {
                n: *n,
                per_second: *per_second,
            })),
        ))?,
        Step::Tail { path } => ErasedStream::new(Stream::tail(path.clone())),
        other => {
            return Err(wire(format!(
                "a shipped stream starts with {other:?}, not with a source"
            )))
        }
    };
    let mut state = State::Plain(source);
    for step in rest {
        state = match (state, step) {
            (State::Plain(s), Step::Map(f)) => {
                State::Plain(unbox(apply(f, ItemUse::StreamMap, Some(Box::new(s))))?)
            }
            (State::Plain(s), Step::Filter(f)) => {
                State::Plain(unbox(apply(f, ItemUse::StreamFilter, Some(Box::new(s))))?)
            }
            (State::Plain(s), Step::FlatMap(f)) => {
                State::Plain(unbox(apply(f, ItemUse::StreamFlatMap, Some(Box::new(s))))?)
            }
            (State::Plain(s), Step::Timestamps { f, lateness }) => {
                let args = TimeArgs {
                    stream: s,
                    lateness: *lateness,
                };
                State::Plain(unbox(apply(f, ItemUse::StreamTime, Some(Box::new(args))))?)
            }
            (State::Plain(s), Step::Union(other)) => {
                let other = rebuild(other)?;
                State::Plain((s.union)(s, other)?)
            }
            (State::Plain(s), Step::KeyBy { f, parallelism }) => {
                let args = KeyArgs {
                    stream: s,
                    parallelism: *parallelism,
                };
                State::Keyed(unbox(apply(f, ItemUse::StreamKey, Some(Box::new(args))))?)
            }
            (State::Keyed(k), Step::Window { window, agg, value }) => {
                let value = match value {
                    Some(f) => Some(apply(f, ItemUse::StreamValue, None)?),
                    None => None,
                };
                let window_of = k
                    .window
                    .lock()
                    .take()
                    .ok_or_else(|| wire("a keyed stream was windowed twice".into()))?;
                State::Plain(window_of(*window, *agg, value)?)
            }
            (_, step) => {
                return Err(wire(format!(
                    "a shipped stream's step {step:?} does not follow the one before it"
                )))
            }
        };
    }
    match state {
        State::Plain(s) => Ok(s),
        State::Keyed(_) => Err(wire(
            "a shipped stream ends with key_by and no window".into(),
        )),
    }
}

fn unbox<T: 'static>(b: Result<AnyBox>) -> Result<T> {
    b?.downcast::<T>().map(|b| *b).map_err(|_| {
        wire(format!(
            "a shipped stream's step made something else than a {}",
            std::any::type_name::<T>()
        ))
    })
}

/// A stream of some record type, handed between the adapters that rebuild a shipped pipeline.
#[doc(hidden)]
pub struct ErasedStream {
    stream: Mutex<Option<Box<dyn Any + Send>>>,
    /// The record type's name, for errors.
    item: &'static str,
    union: fn(ErasedStream, ErasedStream) -> Result<ErasedStream>,
    run: fn(ErasedStream, &TopologyPlan) -> crate::Result<Value>,
}

impl std::fmt::Debug for ErasedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasedStream")
            .field("item", &self.item)
            .finish()
    }
}

impl ErasedStream {
    /// `stream`, with its record type erased.
    pub fn new<T: Clone + Send + Sync + 'static>(stream: Stream<T>) -> ErasedStream {
        ErasedStream {
            stream: Mutex::new(Some(Box::new(stream))),
            item: std::any::type_name::<T>(),
            union: union_of::<T>,
            run: run_of::<T>,
        }
    }

    /// The stream, if its records are `T`s.
    pub fn take<T: 'static>(self) -> Result<Stream<T>> {
        let item = self.item;
        self.stream
            .into_inner()
            .and_then(|s| s.downcast::<Stream<T>>().ok())
            .map(|s| *s)
            .ok_or_else(|| {
                wire(format!(
                    "a shipped stream step expects records of type {}, but they are {item}",
                    std::any::type_name::<T>()
                ))
            })
    }
}

fn union_of<T: Clone + Send + Sync + 'static>(
    a: ErasedStream,
    b: ErasedStream,
) -> Result<ErasedStream> {
    Ok(ErasedStream::new(a.take::<T>()?.union(b.take::<T>()?)))
}

fn run_of<T: Clone + Send + Sync + 'static>(
    s: ErasedStream,
    plan: &TopologyPlan,
) -> crate::Result<Value> {
    let stream = s.take::<T>()?;
    Ok(match plan.sink {
        SinkPlan::Collect { max } => value(plan.settings(stream.collect(max)).start().wait()?),
        SinkPlan::Count => value(plan.settings(stream.count()).start().wait()?),
    })
}

/// A keyed stream of some record and key type, waiting for its window.
#[doc(hidden)]
pub struct ErasedKeyed {
    window: Mutex<Option<WindowOf>>,
}

type WindowOf = Box<dyn FnOnce(Window, WindowAgg, Option<AnyBox>) -> Result<ErasedStream> + Send>;

impl std::fmt::Debug for ErasedKeyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasedKeyed").finish()
    }
}

/// What a shipped `generate`'s function is handed.
#[doc(hidden)]
#[derive(Debug)]
pub struct GenerateArgs {
    n: Option<u64>,
    per_second: Option<f64>,
}

/// What a shipped `with_timestamps`'s function is handed.
#[doc(hidden)]
#[derive(Debug)]
pub struct TimeArgs {
    stream: ErasedStream,
    lateness: i64,
}

/// What a shipped `key_by`'s function is handed.
#[doc(hidden)]
#[derive(Debug)]
pub struct KeyArgs {
    stream: ErasedStream,
    parallelism: usize,
}

fn args<T: 'static>(prev: Option<AnyBox>, step: &str) -> Result<T> {
    prev.ok_or_else(|| wire(format!("a stream's {step} step was given no input")))?
        .downcast::<T>()
        .map(|b| *b)
        .map_err(|_| wire(format!("a stream's {step} step was given something else")))
}

/// `f` as a function returning `R2`, if `R` is `R2`.
fn returning<F: 'static, G: Copy + 'static>(f: F, name: &str, what: &str) -> Result<G> {
    (&f as &dyn Any)
        .downcast_ref::<G>()
        .copied()
        .ok_or_else(|| wire(format!("{what} must be a {name}")))
}

/// `Stream::generate`'s source of `f(0)`, `f(1)`, ... on the far side.
#[doc(hidden)]
pub fn source<A: 'static, R: Clone + Send + Sync + 'static>(
    f: fn(A) -> R,
    prev: Option<AnyBox>,
) -> Result<AnyBox> {
    let a: GenerateArgs = args(prev, "generate")?;
    let f: fn(u64) -> R = returning(f, "fn(u64) -> T", "a generate function")?;
    Ok(Box::new(ErasedStream::new(Stream::generate(
        a.n,
        a.per_second,
        f,
    ))))
}

/// `map(f)` on the far side.
#[doc(hidden)]
pub fn map<A, R>(f: fn(A) -> R, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    R: Clone + Send + Sync + 'static,
{
    let s: ErasedStream = args(prev, "map")?;
    Ok(Box::new(ErasedStream::new(s.take::<A>()?.map(f))))
}

/// `flat_map(f)` on the far side.
#[doc(hidden)]
pub fn flat_map<A, U>(f: fn(A) -> Vec<U>, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
{
    let s: ErasedStream = args(prev, "flat_map")?;
    Ok(Box::new(ErasedStream::new(s.take::<A>()?.flat_map(f))))
}

/// `filter(f)` on the far side.
#[doc(hidden)]
pub fn filter<A>(f: fn(&A) -> bool, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
{
    let s: ErasedStream = args(prev, "filter")?;
    Ok(Box::new(ErasedStream::new(s.take::<A>()?.filter(f))))
}

/// `with_timestamps(f, lateness)` on the far side; `f` must return `i64`.
#[doc(hidden)]
pub fn time<A, R: 'static>(f: fn(&A) -> R, prev: Option<AnyBox>) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
{
    let a: TimeArgs = args(prev, "with_timestamps")?;
    let f: fn(&A) -> i64 = returning(f, "fn(&T) -> i64", "a timestamp function")?;
    let s = a.stream.take::<A>()?.with_timestamps(f, a.lateness);
    Ok(Box::new(ErasedStream::new(s)))
}

/// A window aggregation's value function on the far side; `f` must return `f64`.
#[doc(hidden)]
pub fn window_value<A: 'static, R: 'static>(f: fn(&A) -> R) -> Result<AnyBox> {
    let f: fn(&A) -> f64 = returning(f, "fn(&T) -> f64", "a window's value function")?;
    Ok(Box::new(f))
}

/// `key_by(f)` on the far side, for a key type that can be hashed.
#[doc(hidden)]
pub type KeyFn<A, K> = fn(fn(&A) -> K, KeyArgs) -> Result<AnyBox>;

/// Runs a `key_by` step of key function `f` (named `name`) on the [`KeyArgs`] in `prev`.
#[doc(hidden)]
pub fn key_step<A, K>(
    keyed: Option<KeyFn<A, K>>,
    f: fn(&A) -> K,
    name: &str,
    prev: Option<AnyBox>,
) -> Result<AnyBox> {
    let keyed = keyed.ok_or_else(|| {
        wire(format!(
            "{name}'s result cannot key a stream: it needs Hash + Eq"
        ))
    })?;
    keyed(f, args(prev, "key_by")?)
}

fn keyed<A, K>(f: fn(&A) -> K, a: KeyArgs) -> Result<AnyBox>
where
    A: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let keyed = a.stream.take::<A>()?.key_by(f).parallel(a.parallelism);
    let window_of: WindowOf = Box::new(move |window, agg, value| {
        let windowed = keyed.window(window);
        let value_fn = || -> Result<fn(&A) -> f64> {
            let b = value.ok_or_else(|| wire(format!("window {agg:?} needs a value function")))?;
            b.downcast::<fn(&A) -> f64>().map(|f| *f).map_err(|_| {
                wire(format!(
                    "a window's value function does not take {}",
                    std::any::type_name::<A>()
                ))
            })
        };
        Ok(match agg {
            WindowAgg::Count => ErasedStream::new(windowed.count()),
            WindowAgg::Sum => ErasedStream::new(windowed.sum(value_fn()?)),
            WindowAgg::Mean => ErasedStream::new(windowed.mean(value_fn()?)),
            WindowAgg::Min => ErasedStream::new(windowed.min(value_fn()?)),
            WindowAgg::Max => ErasedStream::new(windowed.max(value_fn()?)),
        })
    });
    Ok(Box::new(ErasedKeyed {
        window: Mutex::new(Some(window_of)),
    }))
}

/// `key_by` for a key type that can be hashed.
#[doc(hidden)]
pub trait ViaHashKey<A, K> {
    /// `key_by`'s adapter.
    fn key_fn(&self) -> Option<KeyFn<A, K>>;
}
impl<A, K> ViaHashKey<A, K> for Probe<K>
where
    A: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn key_fn(&self) -> Option<KeyFn<A, K>> {
        Some(keyed::<A, K>)
    }
}
/// No `key_by` for a key type that cannot be hashed.
#[doc(hidden)]
pub trait NoHashKey<A, K> {
    /// None.
    fn key_fn(&self) -> Option<KeyFn<A, K>> {
        None
    }
}
impl<A, K> NoHashKey<A, K> for &Probe<K> {}

impl<R: Send + Sync + 'static> Topology<R> {
    /// The pipeline as one lazy task of a graph, which runs it until its stream ends and yields
    /// what the sink made. Its graph can leave the process (`encode_graph`) when every stage is
    /// data: a `generate` or `tail` source; `map`, `filter`, `flat_map`, `with_timestamps` and
    /// `key_by` of [`remote_fn!`](crate::remote_fn) functions; `union`; windows aggregated with
    /// `count`, or `sum`, `mean`, `min` or `max` of a `remote_fn!`; a `collect` or `count` sink;
    /// and the `Fail` or `Skip` error policy. Each compute rebuilds the pipeline from those
    /// names and runs it on the current runtime; the result's type needs a codec
    /// (`register_value!`) to travel back.
    ///
    /// # Errors
    /// `NotTransportable`, naming the first stage that runs a plain closure (or is not data),
    /// with the one-line fix.
    ///
    /// ```
    /// use partita_collections::{remote_fn, Stream, Window};
    /// use partita_runtime::encode_graph;
    ///
    /// remote_fn! { fn event(i: u64) -> (i64, f64) { ((i % 3) as i64, i as f64) } }
    /// remote_fn! { fn time_of(e: &(i64, f64)) -> i64 { e.1 as i64 } }
    /// remote_fn! { fn key_of(e: &(i64, f64)) -> i64 { e.0 } }
    ///
    /// let counts = Stream::generate(Some(30), None, event)
    ///     .with_timestamps(time_of, 0)
    ///     .key_by(key_of)
    ///     .window(Window::tumbling(10))
    ///     .count()
    ///     .count()
    ///     .delayed()?;
    /// assert!(encode_graph(&counts.graph(), &[counts.key().clone()]).is_ok());
    /// assert_eq!(counts.compute()?, 9); // 3 windows x 3 keys
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn delayed(self) -> crate::Result<Delayed<R>> {
        let not_data = |stage: &str, reason: &str| {
            crate::Error::Runtime(partita_runtime::Error::NotTransportable {
                layer: "stream".into(),
                key: TaskKey::new(stage, 0),
                reason: reason.into(),
                fix: "define the stage's function with partita::remote_fn! and pass it by name"
                    .into(),
            })
        };
        let (steps, sink) = match self.plan {
            Ok(plan) => plan,
            Err(stage) => {
                return Err(not_data(
                    stage,
                    &format!("stage `{stage}` runs a plain closure or a source that is not data"),
                ))
            }
        };
        let skip_errors = match self.policy {
            ErrorPolicy::Fail => false,
            ErrorPolicy::Skip => true,
            _ => {
                return Err(not_data(
                    "on_error",
                    "a dead-letter channel cannot leave the process",
                ))
            }
        };
        let plan = TopologyPlan {
            steps,
            sink,
            skip_errors,
            capacity: self.capacity,
            batch: self.batch,
        };
        let mut graph = Graph::new();
        let keys = blockwise(
            &mut graph,
            &unique("stream"),
            &RunPipeline { plan },
            [Vec::new()],
        );
        let key = keys
            .into_iter()
            .next()
            .expect("one task per dependency list");
        Ok(Delayed::from_graph(Arc::new(graph), key))
    }
}
