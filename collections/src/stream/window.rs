//! Windows: tumbling and sliding, by event time or by count, per key.
//!
//! Event-time windows fire when the watermark passes their end. The watermark trails the
//! largest event time seen by the lateness given to `with_timestamps`, so records may arrive
//! out of order by up to that much. A record whose every window has already fired is late: it is
//! counted in the stage's `late` metric and sent to the late side output if one is set, never
//! dropped silently. At the end of a stream every open window fires.
//!
//! Count windows fire every `n` records of a key (tumbling), or every `slide` records over the
//! last `size` (sliding). At the end of a stream, a tumbling count window that is not full
//! fires with the records it has.

use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;

/// Per-key state: foldhash, since keys are often small integers that SipHash makes slow.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use partita_runtime::Msg;

use serde::{Deserialize, Serialize};

use super::plan::{Plan, Step, WindowAgg};
use super::{Actor, KeyedStream, StageCounters, Stream, TimestampFn};

/// A window specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// Event-time windows `[k·size, (k+1)·size)`.
    Tumbling {
        /// Window length in event-time units.
        size: i64,
    },
    /// Event-time windows of length `size` starting every `slide`.
    Sliding {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
    },
    /// Every `n` records of a key.
    TumblingCount {
        /// Records per window.
        n: u64,
    },
    /// Every `slide` records of a key, over its last `size` records.
    SlidingCount {
        /// Records per window.
        size: u64,
        /// Records between firings.
        slide: u64,
    },
}

impl Window {
    /// Tumbling event-time windows of `size`.
    pub fn tumbling(size: i64) -> Window {
        Window::Tumbling { size: size.max(1) }
    }

    /// Sliding event-time windows of `size` every `slide`.
    pub fn sliding(size: i64, slide: i64) -> Window {
        Window::Sliding {
            size: size.max(1),
            slide: slide.max(1),
        }
    }

    /// Tumbling windows of `n` records per key.
    pub fn count(n: u64) -> Window {
        Window::TumblingCount { n: n.max(1) }
    }

    /// Windows over the last `size` records of a key, every `slide` records.
    pub fn sliding_count(size: u64, slide: u64) -> Window {
        Window::SlidingCount {
            size: size.max(1),
            slide: slide.max(1),
        }
    }
}

/// The aggregate of one key's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<K, R> {
    /// The key.
    pub key: K,
    /// Where the window starts: an event time, or for count windows the key's record number.
    pub start: i64,
    /// Where it ends (exclusive).
    pub end: i64,
    /// The aggregate.
    pub value: R,
}

/// A keyed stream cut into windows. Made by [`KeyedStream::window`].
pub struct WindowedStream<K, T> {
    keyed: KeyedStream<K, T>,
    window: Window,
    late: Option<Sender<T>>,
}

impl<K, T> std::fmt::Debug for WindowedStream<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedStream")
            .field("window", &self.window)
            .finish()
    }
}

impl<K, T> WindowedStream<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(keyed: KeyedStream<K, T>, window: Window) -> Self {
        WindowedStream {
            keyed,
            window,
            late: None,
        }
    }

    /// Sends late records here (they are counted either way).
    pub fn late_records(mut self, tx: Sender<T>) -> Self {
        self.late = Some(tx);
        self
    }

    /// The general aggregation: each window starts from `init()`, `add` folds in its records,
    /// and `finish` turns the accumulator into the result.
    pub fn aggregate<A, R, I, F, G>(self, init: I, add: F, finish: G) -> Stream<WindowResult<K, R>>
    where
        A: Send + 'static,
        R: Send + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&mut A, &T) + Send + Sync + 'static,
        G: Fn(A) -> R + Send + Sync + 'static,
    {
        self.aggregated(Err("aggregate"), init, add, finish)
    }

    /// The plan of this window aggregated by `agg` of the registered function `F` (`None`: no
    /// function, `count`).
    fn plan<F: 'static>(&self, agg: WindowAgg, stage: &'static str, with_fn: bool) -> Plan {
        if self.late.is_some() {
            return Err("late_records");
        }
        let mut steps = self.keyed.plan.clone()?;
        let value = if with_fn {
            Some(
                crate::item_fn::item_fn_name::<F>()
                    .ok_or(stage)?
                    .to_string(),
            )
        } else {
            None
        };
        steps.push(Step::Window {
            window: self.window,
            agg,
            value,
        });
        Ok(steps)
    }

    fn aggregated<A, R, I, F, G>(
        self,
        plan: Plan,
        init: I,
        add: F,
        finish: G,
    ) -> Stream<WindowResult<K, R>>
    where
        A: Send + 'static,
        R: Send + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&mut A, &T) + Send + Sync + 'static,
        G: Fn(A) -> R + Send + Sync + 'static,
    {
        let agg = Arc::new(Agg { init, add, finish });
        let window = self.window;
        let late = self.late;
        let event_time = self.keyed.stream.event_time.clone();
        self.keyed.stateful("window", plan, move |counters| {
            let agg = agg.clone();
            let late = late.clone();
            let counters = counters.clone();
            match window {
                Window::Tumbling { size } => {
                    event_windows(agg, size, size, event_time.clone(), late, counters)
                }
                Window::Sliding { size, slide } => {
                    event_windows(agg, size, slide, event_time.clone(), late, counters)
                }
                Window::TumblingCount { n } => count_windows(agg, n, n),
                Window::SlidingCount { size, slide } => count_windows(agg, size, slide),
            }
        })
    }

    /// The sum of `f(record)` per window.
    pub fn sum<F>(self, f: F) -> Stream<WindowResult<K, f64>>
    where
        F: Fn(&T) -> f64 + Send + Sync + 'static,
    {
        let plan = self.plan::<F>(WindowAgg::Sum, "window sum", true);
        self.aggregated(plan, || 0.0, move |a: &mut f64, t| *a += f(t), |a| a)
    }

    /// The number of records per window.
    pub fn count(self) -> Stream<WindowResult<K, u64>> {
        let plan = self.plan::<()>(WindowAgg::Count, "window count", false);
        self.aggregated(plan, || 0_u64, |a: &mut u64, _| *a += 1, |a| a)
    }

    /// The mean of `f(record)` per window.
    pub fn mean<F>(self, f: F) -> Stream<WindowResult<K, f64>>
    where
        F: Fn(&T) -> f64 + Send + Sync + 'static,
    {
        let plan = self.plan::<F>(WindowAgg::Mean, "window mean", true);
        self.aggregated(
            plan,
            || (0.0, 0_u64),
            move |a: &mut (f64, u64), t| {
                a.0 += f(t);
                a.1 += 1;
            },
            |(s, n)| s / n as f64,
        )
    }

    /// The smallest `f(record)` per window.
    pub fn min<F>(self, f: F) -> Stream<WindowResult<K, f64>>
    where
        F: Fn(&T) -> f64 + Send + Sync + 'static,
    {
        let plan = self.plan::<F>(WindowAgg::Min, "window min", true);
        self.aggregated(
            plan,
            || f64::INFINITY,
            move |a: &mut f64, t| *a = a.min(f(t)),
            |a| a,
        )
    }

    /// The largest `f(record)` per window.
    pub fn max<F>(self, f: F) -> Stream<WindowResult<K, f64>>
    where
        F: Fn(&T) -> f64 + Send + Sync + 'static,
    {
        let plan = self.plan::<F>(WindowAgg::Max, "window max", true);
        self.aggregated(
            plan,
            || f64::NEG_INFINITY,
            move |a: &mut f64, t| *a = a.max(f(t)),
            |a| a,
        )
    }

    /// A user fold per window, starting from `init`.
    pub fn fold<A, F>(self, init: A, f: F) -> Stream<WindowResult<K, A>>
    where
        A: Clone + Send + Sync + 'static,
        F: Fn(&mut A, &T) + Send + Sync + 'static,
    {
        self.aggregate(move || init.clone(), f, |a| a)
    }
}

struct Agg<I, F, G> {
    init: I,
    add: F,
    finish: G,
}

trait Aggregator<T, R>: Send + Sync {
    type Acc: Send;
    fn init(&self) -> Self::Acc;
    fn add(&self, acc: &mut Self::Acc, t: &T);
    fn finish(&self, acc: Self::Acc) -> R;
}

impl<T, A, R, I, F, G> Aggregator<T, R> for Agg<I, F, G>
where
    A: Send,
    I: Fn() -> A + Send + Sync,
    F: Fn(&mut A, &T) + Send + Sync,
    G: Fn(A) -> R + Send + Sync,
{
    type Acc = A;
    fn init(&self) -> A {
        (self.init)()
    }
    fn add(&self, acc: &mut A, t: &T) {
        (self.add)(acc, t)
    }
    fn finish(&self, acc: A) -> R {
        (self.finish)(acc)
    }
}

type Handler<K, T, R> = Actor<(K, T), WindowResult<K, R>>;

/// One actor's event-time windows.
fn event_windows<K, T, R, G>(
    agg: Arc<G>,
    size: i64,
    slide: i64,
    event_time: Option<TimestampFn<T>>,
    late: Option<Sender<T>>,
    counters: Arc<StageCounters>,
) -> Handler<K, T, R>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    G: Aggregator<T, R> + 'static,
{
    // Open windows by start, then by key.
    let mut open: BTreeMap<i64, HashMap<K, G::Acc>> = BTreeMap::new();
    let mut watermark = i64::MIN;
    Box::new(move |msg, emit| {
        let Some(ts_of) = &event_time else {
            panic!("an event-time window needs event time: call with_timestamps before key_by");
        };
        match msg {
            Msg::Batch(b) => {
                let mut max_ts = i64::MIN;
                for (k, t) in b {
                    let ts = ts_of(&t);
                    max_ts = max_ts.max(ts);
                    // The windows [s, s + size) that hold ts, newest first.
                    let last = ts.div_euclid(slide) * slide;
                    let mut s = last;
                    let mut placed = false;
                    while s > ts - size {
                        if s.saturating_add(size) > watermark {
                            let acc = open
                                .entry(s)
                                .or_default()
                                .entry(k.clone())
                                .or_insert_with(|| agg.init());
                            agg.add(acc, &t);
                            placed = true;
                        }
                        s -= slide;
                    }
                    if !placed {
                        counters.late.fetch_add(1, Ordering::Relaxed);
                        if let Some(tx) = &late {
                            let _ = tx.send(t);
                        }
                    }
                }
                counters.max_event_time.fetch_max(max_ts, Ordering::Relaxed);
            }
            Msg::Watermark(w) => {
                watermark = watermark.max(w);
                let mut out = Vec::new();
                while let Some(entry) = open.first_entry() {
                    let start = *entry.key();
                    if start.saturating_add(size) > watermark {
                        break;
                    }
                    for (key, acc) in entry.remove() {
                        out.push(WindowResult {
                            key,
                            start,
                            end: start.saturating_add(size),
                            value: agg.finish(acc),
                        });
                    }
                }
                emit(out);
            }
            Msg::End | Msg::Idle => {}
        }
    })
}

/// One actor's count windows.
fn count_windows<K, T, R, G>(agg: Arc<G>, size: u64, slide: u64) -> Handler<K, T, R>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    G: Aggregator<T, R> + 'static,
{
    // Per key: records seen, and the last `size` records (sliding) or the open accumulator.
    let mut seen: HashMap<K, u64> = HashMap::default();
    let mut recent: HashMap<K, VecDeque<T>> = HashMap::default();
    let mut open: HashMap<K, G::Acc> = HashMap::default();
    let tumbling = size == slide;
    Box::new(move |msg, emit| {
        let mut out = Vec::new();
        match msg {
            Msg::Batch(b) => {
                for (k, t) in b {
                    let n = seen.entry(k.clone()).or_insert(0);
                    *n += 1;
                    let n = *n;
                    if tumbling {
                        let acc = open.entry(k.clone()).or_insert_with(|| agg.init());
                        agg.add(acc, &t);
                        if n.is_multiple_of(size) {
                            if let Some(acc) = open.remove(&k) {
                                out.push(WindowResult {
                                    key: k,
                                    start: (n - size) as i64,
                                    end: n as i64,
                                    value: agg.finish(acc),
                                });
                            }
                        }
                    } else {
                        let q = recent.entry(k.clone()).or_default();
                        q.push_back(t);
                        if q.len() as u64 > size {
                            q.pop_front();
                        }
                        if n.is_multiple_of(slide) {
                            let mut acc = agg.init();
                            q.iter().for_each(|t| agg.add(&mut acc, t));
                            out.push(WindowResult {
                                key: k,
                                start: n.saturating_sub(q.len() as u64) as i64,
                                end: n as i64,
                                value: agg.finish(acc),
                            });
                        }
                    }
                }
            }
            Msg::End => {
                for (k, acc) in open.drain() {
                    let n = seen.get(&k).copied().unwrap_or(0);
                    out.push(WindowResult {
                        key: k,
                        start: (n - n % size) as i64,
                        end: n as i64,
                        value: agg.finish(acc),
                    });
                }
            }
            Msg::Watermark(_) | Msg::Idle => {}
        }
        emit(out);
    })
}
