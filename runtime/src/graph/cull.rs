//! Culling: keep only the work behind the requested keys.

use rustc_hash::FxHashSet;

use super::{Graph, TaskKey};
use crate::error::{Error, Result};

impl Graph {
    /// The sub-graph that the tasks `keys` need: those tasks and everything they depend on.
    ///
    /// # Errors
    /// [`Error::MissingKey`] for a requested key that is not in the graph,
    /// [`Error::MissingDependency`] for a dependency that is not, and [`Error::DuplicateKey`].
    pub fn cull(&self, keys: &[TaskKey]) -> Result<Graph> {
        let index = self.index()?;
        let mut keep: FxHashSet<&TaskKey> = FxHashSet::default();
        let mut stack = Vec::with_capacity(keys.len());
        for key in keys {
            let (k, _) = index
                .get_key_value(key)
                .ok_or_else(|| Error::MissingKey { key: key.clone() })?;
            if keep.insert(k) {
                stack.push(*k);
            }
        }
        while let Some(key) = stack.pop() {
            for dep in index[key].deps() {
                let (k, _) = index
                    .get_key_value(dep)
                    .ok_or_else(|| Error::MissingDependency {
                        key: dep.clone(),
                        needed_by: key.clone(),
                    })?;
                if keep.insert(k) {
                    stack.push(*k);
                }
            }
        }
        Ok(self.retain(&keep))
    }
}
