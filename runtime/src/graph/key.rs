//! Task keys: `(name, index)` pairs, as in Dask.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The identity of a task and of the partition it produces: a name shared by a whole layer plus
/// the partition's index within it, like Dask's `("inc-8f3a", 4)`.
///
/// Cloning a key is cheap: the name is reference counted.
///
/// ```
/// use partita_runtime::TaskKey;
/// let k = TaskKey::new("inc", 4);
/// assert_eq!(k.name(), "inc");
/// assert_eq!(k.index(), 4);
/// assert_eq!(k.to_string(), "(inc, 4)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey {
    name: Arc<str>,
    index: u64,
}

impl TaskKey {
    /// A key from a layer name and a partition index.
    pub fn new(name: impl Into<Arc<str>>, index: u64) -> Self {
        TaskKey {
            name: name.into(),
            index,
        }
    }

    /// The layer name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared layer name, for building sibling keys without copying it.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The partition index within the layer.
    pub fn index(&self) -> u64 {
        self.index
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.name, self.index)
    }
}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
