//! A write-once cell that threads, async tasks and pool jobs can all wait on.
//!
//! Every result the runtime hands back (a compute, a future) arrives through one of these. A plain
//! thread blocks on a condvar; an async task registers its waker; a pool worker helps run queued
//! jobs while it waits, so nested waits cannot deadlock the pool (see `pool/README.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::pool::Registry;

type Callback = Box<dyn FnOnce() + Send>;

struct State<T> {
    value: Option<T>,
    wakers: Vec<Waker>,
    callbacks: Vec<Callback>,
}

/// A value that arrives once.
pub(crate) struct Completion<T> {
    state: Mutex<State<T>>,
    cond: Condvar,
    done: AtomicBool,
}

impl<T: Clone> Completion<T> {
    pub(crate) fn new() -> Self {
        Completion {
            state: Mutex::new(State {
                value: None,
                wakers: Vec::new(),
                callbacks: Vec::new(),
            }),
            cond: Condvar::new(),
            done: AtomicBool::new(false),
        }
    }

    /// Sets the value if none is set yet, and wakes every waiter. Returns whether it was set.
    pub(crate) fn complete(&self, value: T) -> bool {
        let (wakers, callbacks) = {
            let mut state = self.state.lock();
            if state.value.is_some() {
                return false;
            }
            state.value = Some(value);
            self.done.store(true, Ordering::Release);
            (
                std::mem::take(&mut state.wakers),
                std::mem::take(&mut state.callbacks),
            )
        };
        self.cond.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        callbacks.into_iter().for_each(|f| f());
        true
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The value, if it has arrived.
    pub(crate) fn get(&self) -> Option<T> {
        self.state.lock().value.clone()
    }

    /// Runs `f` once the value is set: now, if it already is.
    pub(crate) fn on_complete(&self, f: Callback) {
        let mut state = self.state.lock();
        if state.value.is_some() {
            drop(state);
            f();
        } else {
            state.callbacks.push(f);
        }
    }

    /// Blocks until the value arrives. On a worker of `pool`, runs other jobs meanwhile.
    pub(crate) fn wait(&self, pool: Option<&Arc<Registry>>) -> T {
        let helping = pool.filter(|p| p.is_worker_thread());
        loop {
            if self.is_done() {
                if let Some(v) = self.get() {
                    return v;
                }
            }
            if let Some(pool) = helping {
                if pool.help_once() {
                    continue;
                }
            }
            let mut state = self.state.lock();
            if let Some(v) = &state.value {
                return v.clone();
            }
            match helping {
                Some(_) => {
                    self.cond.wait_for(&mut state, Duration::from_micros(100));
                }
                None => self.cond.wait(&mut state),
            }
        }
    }

    /// The async side of [`wait`](Self::wait).
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.lock();
        match &state.value {
            Some(v) => Poll::Ready(v.clone()),
            None => {
                if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    state.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}
