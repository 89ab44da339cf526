//! Unique layer and key names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh number, unique in this process.
pub(crate) fn next_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A fresh layer name for operation `op`: `op-<n>`, unique in this process. Every collection and
/// every source names its layers with it.
///
/// ```
/// let a = partita_collections::layer_name("read-csv");
/// let b = partita_collections::layer_name("read-csv");
/// assert!(a.starts_with("read-csv-") && a != b);
/// ```
pub fn layer_name(op: &str) -> Arc<str> {
    Arc::from(format!("{op}-{}", next_id()))
}

/// [`layer_name`], as the collections call it.
pub(crate) fn unique(op: &str) -> Arc<str> {
    layer_name(op)
}
