//! Inlets: how a stage pulls batches from upstream, with the element-wise operators applied.
//!
//! A stage boundary is a bounded channel of batches (the stage's mailbox). Element-wise
//! operators (`map`, `filter`, `flat_map`, `inspect`, ...) do not get a thread of their own:
//! they wrap the inlet of the stage that pulls from that mailbox, so they run in that stage,
//! one batch at a time, as Flink chains operators.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use super::pipeline::Control;

/// What flows through a mailbox.
pub(crate) enum Msg<T> {
    /// Records, in order.
    Batch(Vec<T>),
    /// No record with an event time below this will follow (event-time streams only).
    Watermark(i64),
    /// The upstream has finished.
    End,
    /// Nothing arrived for a poll interval (about 20 ms): a chance to act on time.
    Idle,
}

/// The pulling end of a stage boundary, possibly with operators applied.
pub(crate) trait Inlet<T>: Send {
    /// The next message, or `None` when the run is aborted or upstream is gone.
    fn next(&mut self) -> Option<Msg<T>>;
}

/// A mailbox's receiving end, fed by `senders` upstream stages.
pub(crate) struct Mailbox<T> {
    pub(crate) rx: Receiver<Msg<T>>,
    pub(crate) control: Arc<Control>,
    /// `End`s still expected (one per upstream sender).
    pub(crate) ends: usize,
}

const POLL: Duration = Duration::from_millis(20);

impl<T: Send> Inlet<T> for Mailbox<T> {
    fn next(&mut self) -> Option<Msg<T>> {
        loop {
            if self.control.aborted() {
                return None;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Msg::End) => {
                    self.ends -= 1;
                    if self.ends == 0 {
                        return Some(Msg::End);
                    }
                }
                Ok(m) => return Some(m),
                Err(RecvTimeoutError::Timeout) => return Some(Msg::Idle),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// Sends `msg`, waiting while the mailbox is full (backpressure). Returns `false` if the run
/// was aborted or the receiver is gone.
pub(crate) fn send<T>(tx: &Sender<Msg<T>>, mut msg: Msg<T>, control: &Control) -> bool {
    loop {
        if control.aborted() {
            return false;
        }
        match tx.send_timeout(msg, POLL) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(m)) => msg = m,
            Err(SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

/// An inlet with a per-batch transformation applied.
pub(crate) struct Mapped<S, T> {
    pub(crate) inner: Box<dyn Inlet<S>>,
    pub(crate) apply: Box<dyn FnMut(Vec<S>) -> Vec<T> + Send>,
}

impl<S, T> Inlet<T> for Mapped<S, T> {
    fn next(&mut self) -> Option<Msg<T>> {
        Some(match self.inner.next()? {
            Msg::Batch(b) => Msg::Batch((self.apply)(b)),
            Msg::Watermark(w) => Msg::Watermark(w),
            Msg::End => Msg::End,
            Msg::Idle => Msg::Idle,
        })
    }
}

/// An inlet that also emits watermarks: after each batch, the largest event time seen so far
/// minus the allowed lateness.
pub(crate) struct Timestamped<T> {
    pub(crate) inner: Box<dyn Inlet<T>>,
    pub(crate) timestamp: Arc<dyn Fn(&T) -> i64 + Send + Sync>,
    pub(crate) lateness: i64,
    pub(crate) max_seen: i64,
    pub(crate) pending: Option<Msg<T>>,
}

impl<T: Send> Inlet<T> for Timestamped<T> {
    fn next(&mut self) -> Option<Msg<T>> {
        if let Some(m) = self.pending.take() {
            return Some(m);
        }
        match self.inner.next()? {
            Msg::Batch(b) => {
                let before = self.max_seen;
                for t in &b {
                    self.max_seen = self.max_seen.max((self.timestamp)(t));
                }
                if self.max_seen > before {
                    self.pending =
                        Some(Msg::Watermark(self.max_seen.saturating_sub(self.lateness)));
                }
                Some(Msg::Batch(b))
            }
            Msg::Watermark(w) => Some(Msg::Watermark(w)),
            Msg::Idle => Some(Msg::Idle),
            Msg::End => {
                self.pending = Some(Msg::End);
                Some(Msg::Watermark(i64::MAX))
            }
        }
    }
}
