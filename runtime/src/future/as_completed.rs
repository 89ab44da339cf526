//! `as_completed`: futures in the order they finish.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::Future;
use crate::pool::Registry;

#[derive(Default)]
struct Ready {
    queue: VecDeque<usize>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Shared {
    ready: Mutex<Ready>,
    cond: Condvar,
}

/// Yields futures as they finish: blocking as an [`Iterator`], or as a `Stream` in async code.
/// Made by [`as_completed`].
pub struct AsCompleted<T> {
    futures: Vec<Option<Future<T>>>,
    shared: Arc<Shared>,
    left: usize,
    pool: Option<Arc<Registry>>,
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left)
            .finish()
    }
}

/// The futures in the order they finish (whether they succeed, fail or are cancelled).
///
/// ```
/// use partita_runtime::{as_completed, Runtime};
/// let rt = Runtime::builder().threads(2).build()?;
/// let fs = rt.map(|x: u64| x + 1, 0..10);
/// let mut total = 0;
/// for f in as_completed(fs) {
///     total += f.result()?;
/// }
/// assert_eq!(total, 55);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn as_completed<T>(futures: impl IntoIterator<Item = Future<T>>) -> AsCompleted<T> {
    let futures: Vec<Option<Future<T>>> = futures.into_iter().map(Some).collect();
    let shared = Arc::new(Shared::default());
    let pool = futures
        .first()
        .and_then(|f| f.as_ref())
        .and_then(|f| f.handle.runtime.registry().cloned());
    for (i, f) in futures.iter().enumerate() {
        let shared = shared.clone();
        if let Some(f) = f {
            f.core().result.on_complete(Box::new(move || {
                let waker = {
                    let mut ready = shared.ready.lock();
                    ready.queue.push_back(i);
                    ready.waker.take()
                };
                shared.cond.notify_one();
                if let Some(w) = waker {
                    w.wake();
                }
            }));
        }
    }
    AsCompleted {
        left: futures.len(),
        futures,
        shared,
        pool,
    }
}

impl<T> AsCompleted<T> {
    fn yield_index(&mut self, i: usize) -> Option<Future<T>> {
        self.left -= 1;
        self.futures[i].take()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        if self.left == 0 {
            return None;
        }
        let helping = self.pool.clone().filter(|p| p.is_worker_thread());
        loop {
            let first = self.shared.ready.lock().queue.pop_front();
            if let Some(i) = first {
                return self.yield_index(i);
            }
            if let Some(pool) = &helping {
                if pool.help_once() {
                    continue;
                }
            }
            let mut ready = self.shared.ready.lock();
            if let Some(i) = ready.queue.pop_front() {
                drop(ready);
                return self.yield_index(i);
            }
            match helping {
                Some(_) => {
                    self.shared
                        .cond
                        .wait_for(&mut ready, Duration::from_micros(100));
                }
                None => self.shared.cond.wait(&mut ready),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> futures_core::Stream for AsCompleted<T> {
    type Item = Future<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Future<T>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let next = {
            let mut ready = self.shared.ready.lock();
            match ready.queue.pop_front() {
                Some(i) => Some(i),
                None => {
                    ready.waker = Some(cx.waker().clone());
                    None
                }
            }
        };
        match next {
            Some(i) => Poll::Ready(self.yield_index(i)),
            None => Poll::Pending,
        }
    }
}
