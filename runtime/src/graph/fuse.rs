//! Linear fusion: a chain of single-input tasks becomes one task.
//!
//! Task `b` absorbs its only input `a` when `a` has no other dependent, is not a requested output,
//! and both compute (a stored partition is never fused). The fused task keeps the key of the last
//! task in the chain and runs the stages one after the other in a loop, so a chain of any length
//! costs no stack. Each stage still catches its own panic, so a failure names the stage's own key,
//! and what the fused task reports is exactly what the unfused chain would have reported.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Graph, Layer, Task, TaskKey, TaskKind};
use crate::error::{Error, Result};
use crate::value::{run_kernel, Kernel};

impl Graph {
    /// The same computation with every linear chain fused into one task. Keys in `keep` stay
    /// visible as tasks of their own.
    ///
    /// # Errors
    /// [`Error::DuplicateKey`] when two tasks share a key.
    pub fn fuse(&self, keep: &[TaskKey]) -> Result<Graph> {
        let index = self.index()?;
        let keep: FxHashSet<&TaskKey> = keep.iter().collect();
        let mut dependents: FxHashMap<&TaskKey, u32> = FxHashMap::default();
        for task in self.tasks() {
            for dep in task.deps() {
                *dependents.entry(dep).or_insert(0) += 1;
            }
        }
        // The input `task` would absorb, if any.
        let absorbs = |task: &Task| -> Option<&Task> {
            let [dep] = task.deps() else { return None };
            let input = index.get(dep)?;
            let fusable = matches!(task.kind, TaskKind::Compute(_))
                && matches!(input.kind, TaskKind::Compute(_))
                && dependents.get(dep) == Some(&1)
                && !keep.contains(dep);
            fusable.then_some(*input)
        };
        let absorbed: FxHashSet<&TaskKey> = self
            .tasks()
            .filter_map(|t| absorbs(t).map(|input| &input.key))
            .collect();
        if absorbed.is_empty() {
            return Ok(self.clone());
        }

        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let mut tasks = Vec::with_capacity(layer.tasks.len());
            for task in layer.tasks.iter().filter(|t| !absorbed.contains(&t.key)) {
                let mut chain = vec![task];
                while let Some(input) = absorbs(chain[chain.len() - 1]) {
                    chain.push(input);
                }
                if chain.len() == 1 {
                    tasks.push(task.clone());
                    continue;
                }
                chain.reverse();
                let stages = chain
                    .iter()
                    .map(|t| match &t.kind {
                        TaskKind::Compute(k) => (t.key.clone(), k.clone()),
                        TaskKind::Stored(_) => unreachable!("stored tasks are never fused"),
                    })
                    .collect();
                tasks.push(Task {
                    key: task.key.clone(),
                    deps: chain[0].deps.clone(),
                    kind: TaskKind::Compute(fused(stages)),
                    op: None,
                });
            }
            if !tasks.is_empty() {
                layers.push(Arc::new(Layer {
                    name: layer.name.clone(),
                    tasks,
                }));
            }
        }
        Ok(Graph { layers })
    }
}

/// One kernel that runs `stages` in order, each on the previous one's output.
fn fused(stages: Vec<(TaskKey, Kernel)>) -> Kernel {
    Arc::new(move |inputs| {
        let tail = &stages[stages.len() - 1].0;
        let mut inputs = Some(inputs);
        let mut value = None;
        for (i, (key, kernel)) in stages.iter().enumerate() {
            let args = match value.take() {
                None => inputs.take().unwrap_or_default(),
                Some(v) => vec![v],
            };
            let result = run_kernel(key, kernel, args);
            match result {
                Ok(v) => value = Some(v),
                Err(e) if i + 1 == stages.len() => return Err(e),
                Err(e) => return Err(Arc::new(e).for_dependent(tail)),
            }
        }
        value.ok_or_else(|| Error::failed(tail.clone(), "fused task with no stages"))
    })
}
