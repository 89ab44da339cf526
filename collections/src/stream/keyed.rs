//! Keyed streams: per-key state and windows, on one or more stateful actors.

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;

use partita_runtime::{send, Inlet, Mailbox, Msg, StageControl, StageCounters};

use super::inlet::Mapped;
use super::plan::{Plan, Step};
use super::{Actor, Stream, Window, WindowedStream};

/// A stream partitioned by key. Made by [`Stream::key_by`].
pub struct KeyedStream<K, T> {
    pub(super) stream: Stream<T>,
    pub(super) key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub(super) parallelism: usize,
    /// The stream as data up to its `key_by`, if every stage is.
    pub(super) plan: Plan,
}

impl<K, T> std::fmt::Debug for KeyedStream<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedStream")
            .field("parallelism", &self.parallelism)
            .finish()
    }
}

impl<K, T> KeyedStream<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
{
    /// Runs the next stateful stage as `n` actors. Records are routed by a hash of their key,
    /// so each key's records stay in order on one actor.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        if let Ok(steps) = &mut self.plan {
            if let Some(Step::KeyBy { parallelism, .. }) = steps.last_mut() {
                *parallelism = n.max(1);
            }
        }
        self
    }

    /// Keeps one accumulator per key, starting from `init`, and updates it with `step` for every
    /// record. After each batch, emits `(key, accumulator)` for every key the batch touched.
    pub fn fold<A, F>(self, init: A, step: F) -> Stream<(K, A)>
    where
        A: Clone + Send + 'static,
        F: Fn(&mut A, T) + Send + Sync + 'static,
    {
        let step = Arc::new(step);
        self.stateful("fold", Err("fold"), move |_| {
            let step = step.clone();
            let init = init.clone();
            let mut state: std::collections::HashMap<K, A> = std::collections::HashMap::new();
            Box::new(move |msg: Msg<(K, T)>, emit: &mut dyn FnMut(Vec<(K, A)>)| {
                if let Msg::Batch(b) = msg {
                    let mut touched = Vec::new();
                    let mut seen = std::collections::HashSet::new();
                    for (k, t) in b {
                        let acc = state.entry(k.clone()).or_insert_with(|| init.clone());
                        step(acc, t);
                        if seen.insert(k.clone()) {
                            touched.push(k);
                        }
                    }
                    let out = touched
                        .into_iter()
                        .filter_map(|k| state.get(&k).map(|a| (k, a.clone())))
                        .collect();
                    emit(out);
                }
            })
        })
    }

    /// Like [`fold`](Self::fold) with the first record of each key as its start.
    pub fn reduce<F>(self, f: F) -> Stream<(K, T)>
    where
        T: Clone,
        F: Fn(&T, &T) -> T + Send + Sync + 'static,
    {
        self.fold(None::<T>, move |acc, t| {
            *acc = Some(match acc.take() {
                Some(a) => f(&a, &t),
                None => t,
            });
        })
        .flat_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// Windows per key; aggregate them with the methods of [`WindowedStream`].
    pub fn window(self, window: Window) -> WindowedStream<K, T> {
        WindowedStream::new(self, window)
    }

    /// Starts the stateful stage: routes records by key to `parallelism` actors, each running
    /// its own `make()` handler, and merges their output into one mailbox.
    pub(super) fn stateful<U: Send + 'static>(
        self,
        name: &'static str,
        plan: Plan,
        make: impl Fn(&Arc<StageCounters>) -> Actor<(K, T), U> + Send + 'static,
    ) -> Stream<U> {
        let KeyedStream {
            stream,
            key,
            parallelism,
            plan: _,
        } = self;
        let build = stream.build;
        Stream::new(
            Box::new(move |launch| {
                let mut inlet = build(launch);
                let n = parallelism;
                let (out_tx, out_rx) = crossbeam_channel::bounded(launch.capacity());
                if n == 1 {
                    // One actor: it keys the records itself, with no router in between.
                    let counters = launch.stage(&format!("{name}-0"), None);
                    let handler = make(&counters);
                    let keyed: Box<dyn Inlet<(K, T)>> = Box::new(Mapped {
                        inner: inlet,
                        apply: Box::new(move |b: Vec<T>| {
                            b.into_iter().map(|t| (key(&t), t)).collect()
                        }),
                    });
                    let control = launch.control().clone();
                    launch.spawn(&format!("{name}-0"), move || {
                        run_actor(keyed, handler, &counters, &out_tx, &control)
                    });
                    return Box::new(Mailbox::new(out_rx, launch.control().clone(), 1))
                        as Box<dyn Inlet<U>>;
                }
                let mut inboxes = Vec::with_capacity(n);
                for i in 0..n {
                    let (tx, rx) = crossbeam_channel::bounded::<Msg<(K, T)>>(launch.capacity());
                    let depth_rx = rx.clone();
                    let counters = launch.stage(
                        &format!("{name}-{i}"),
                        Some(Box::new(move || {
                            (depth_rx.len(), depth_rx.capacity().unwrap_or(0))
                        })),
                    );
                    inboxes.push(tx);
                    let handler = make(&counters);
                    let (out_tx, control) = (out_tx.clone(), launch.control().clone());
                    let mailbox = Box::new(Mailbox::new(rx, control.clone(), 1));
                    launch.spawn(&format!("{name}-{i}"), move || {
                        run_actor(mailbox, handler, &counters, &out_tx, &control)
                    });
                }
                // The router: keys records and sends each to its actor; watermarks go to all.
                let control = launch.control().clone();
                launch.spawn(&format!("{name}-router"), move || {
                    let hasher = foldhash::fast::FixedState::with_seed(7);
                    loop {
                        match inlet.next() {
                            Some(Msg::Batch(b)) => {
                                let mut parts: Vec<Vec<(K, T)>> =
                                    (0..n).map(|_| Vec::new()).collect();
                                for t in b {
                                    let k = key(&t);
                                    let i = if n == 1 {
                                        0
                                    } else {
                                        (std::hash::BuildHasher::hash_one(&hasher, &k) % n as u64)
                                            as usize
                                    };
                                    parts[i].push((k, t));
                                }
                                for (i, p) in parts.into_iter().enumerate() {
                                    if !p.is_empty() && !send(&inboxes[i], Msg::Batch(p), &control)
                                    {
                                        return;
                                    }
                                }
                            }
                            Some(Msg::Watermark(w)) => {
                                for tx in &inboxes {
                                    if !send(tx, Msg::Watermark(w), &control) {
                                        return;
                                    }
                                }
                            }
                            Some(Msg::End) => {
                                for tx in &inboxes {
                                    send(tx, Msg::End, &control);
                                }
                                return;
                            }
                            Some(Msg::Idle) => {}
                            None => return,
                        }
                    }
                });
                Box::new(Mailbox::new(out_rx, launch.control().clone(), n))
            }),
            plan,
        )
    }
}

/// The loop of one stateful actor: feeds its handler every message from `inlet` and sends what
/// the handler emits downstream, until the end of the stream or an abort.
fn run_actor<I, U>(
    mut inlet: Box<dyn Inlet<I>>,
    mut handler: Actor<I, U>,
    counters: &StageCounters,
    out_tx: &Sender<Msg<U>>,
    control: &StageControl,
) {
    let mut emit = |b: Vec<U>| {
        if !b.is_empty() {
            counters
                .records_out
                .fetch_add(b.len() as u64, Ordering::Relaxed);
            send(out_tx, Msg::Batch(b), control);
        }
    };
    loop {
        match inlet.next() {
            Some(Msg::Idle) => {}
            Some(Msg::End) => {
                handler(Msg::End, &mut emit);
                send(out_tx, Msg::End, control);
                return;
            }
            Some(m) => {
                match &m {
                    Msg::Batch(b) => {
                        counters
                            .records_in
                            .fetch_add(b.len() as u64, Ordering::Relaxed);
                    }
                    Msg::Watermark(w) => counters.watermark.store(*w, Ordering::Relaxed),
                    Msg::End | Msg::Idle => {}
                }
                handler(m, &mut emit);
            }
            None => return,
        }
    }
}
