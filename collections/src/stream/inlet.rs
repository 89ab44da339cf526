//! Inlets: how a stage pulls batches from upstream, with the element-wise operators applied.
//!
//! A stage boundary is a bounded channel of batches (the stage's mailbox, a
//! [`partita_runtime::Mailbox`]). Element-wise
//! operators (`map`, `filter`, `flat_map`, `inspect`, ...) do not get a thread of their own:
//! they wrap the inlet of the stage that pulls from that mailbox, so they run in that stage,
//! one batch at a time, as Flink chains operators.

use std::sync::Arc;

use partita_runtime::{Inlet, Msg};

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
