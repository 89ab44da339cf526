//! A graph compiled for execution: tasks numbered densely, edges as index ranges.
//!
//! Compiling walks back from the requested keys, so the plan holds only the work they need (this
//! is the cull), numbers the tasks it meets, and records for each task the slots its inputs arrive
//! in and the slots of its dependents that its output fills. A Kahn pass gives a topological order
//! for the `sync` scheduler and rejects cycles, so no scheduler can wait forever.

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::graph::{Graph, TaskKey, TaskKind};

/// Marks a task that is not a requested output.
pub(crate) const NOT_OUTPUT: u32 = u32::MAX;

/// A numbered, validated, culled task graph.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) keys: Vec<TaskKey>,
    pub(crate) kinds: Vec<TaskKind>,
    /// Task `i`'s inputs arrive in slots `slot_start[i]..slot_start[i + 1]`.
    pub(crate) slot_start: Vec<u32>,
    /// Task `i`'s dependents are `dependents[dep_start[i]..dep_start[i + 1]]`.
    pub(crate) dep_start: Vec<u32>,
    /// `(dependent task, slot)` pairs.
    pub(crate) dependents: Vec<(u32, u32)>,
    /// The result index of each task, or [`NOT_OUTPUT`].
    pub(crate) result_of: Vec<u32>,
    /// For each requested key, in order, its result index.
    pub(crate) requested: Vec<u32>,
    /// The number of distinct requested tasks.
    pub(crate) n_results: usize,
    /// A topological order.
    pub(crate) topo: Vec<u32>,
    /// The tasks without inputs (sources, and reads of persisted partitions), in the order the
    /// graph lists them (its layers in order, each layer's partitions in order): the order
    /// sources are released in.
    pub(crate) roots: Vec<u32>,
}

impl Plan {
    /// Compiles the part of `graph` that `outputs` need.
    pub(crate) fn build(graph: &Graph, outputs: &[TaskKey]) -> Result<Plan> {
        // key -> (task, number or u32::MAX while unreached)
        let mut index: FxHashMap<&TaskKey, (&crate::graph::Task, u32)> = FxHashMap::default();
        index.reserve(graph.len());
        // Where the graph lists each task without inputs.
        let mut listed: FxHashMap<&TaskKey, u32> = FxHashMap::default();
        for (pos, task) in graph.tasks().enumerate() {
            if task.deps().is_empty() {
                listed.entry(task.key()).or_insert(pos as u32);
            }
            if let Some((old, _)) = index.insert(task.key(), (task, u32::MAX)) {
                if !old.is_same(task) {
                    return Err(Error::DuplicateKey {
                        key: task.key().clone(),
                    });
                }
            }
        }
        let mut order: Vec<&crate::graph::Task> = Vec::new();
        let mut requested = Vec::with_capacity(outputs.len());
        let mut result_of_task: FxHashMap<u32, u32> = FxHashMap::default();
        for key in outputs {
            let entry = index
                .get_mut(key)
                .ok_or_else(|| Error::MissingKey { key: key.clone() })?;
            if entry.1 == u32::MAX {
                entry.1 = order.len() as u32;
                order.push(entry.0);
            }
            let n = result_of_task.len() as u32;
            requested.push(*result_of_task.entry(entry.1).or_insert(n));
        }
        // Breadth-first from the outputs: numbering on discovery, inputs recorded in slot order.
        let mut slot_start = Vec::with_capacity(order.len() + 1);
        let mut inputs: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let task = order[i];
            slot_start.push(inputs.len() as u32);
            for dep in task.deps() {
                let entry = index.get_mut(dep).ok_or_else(|| Error::MissingDependency {
                    key: dep.clone(),
                    needed_by: task.key().clone(),
                })?;
                if entry.1 == u32::MAX {
                    entry.1 = order.len() as u32;
                    order.push(entry.0);
                }
                inputs.push(entry.1);
            }
            i += 1;
        }
        let n = order.len();
        slot_start.push(inputs.len() as u32);

        // Dependents by counting sort over the input slots.
        let mut dep_start = vec![0u32; n + 1];
        for &input in &inputs {
            dep_start[input as usize + 1] += 1;
        }
        for t in 0..n {
            dep_start[t + 1] += dep_start[t];
        }
        let mut fill = dep_start.clone();
        let mut dependents = vec![(0u32, 0u32); inputs.len()];
        for t in 0..n {
            for slot in slot_start[t]..slot_start[t + 1] {
                let input = inputs[slot as usize] as usize;
                dependents[fill[input] as usize] = (t as u32, slot);
                fill[input] += 1;
            }
        }

        // Kahn: a topological order, or a cycle.
        let mut missing: Vec<u32> = (0..n).map(|t| slot_start[t + 1] - slot_start[t]).collect();
        let mut topo: Vec<u32> = (0..n as u32)
            .filter(|&t| missing[t as usize] == 0)
            .collect();
        let mut head = 0;
        while head < topo.len() {
            let t = topo[head] as usize;
            head += 1;
            for &(d, _) in &dependents[dep_start[t] as usize..dep_start[t + 1] as usize] {
                missing[d as usize] -= 1;
                if missing[d as usize] == 0 {
                    topo.push(d);
                }
            }
        }
        if topo.len() < n {
            let stuck = missing.iter().position(|&m| m > 0).unwrap_or(0);
            return Err(Error::Cycle {
                key: order[stuck].key().clone(),
            });
        }

        let mut roots: Vec<u32> = (0..n as u32)
            .filter(|&t| slot_start[t as usize] == slot_start[t as usize + 1])
            .collect();
        roots.sort_by_key(|&t| listed.get(order[t as usize].key()).copied());

        let mut result_of = vec![NOT_OUTPUT; n];
        for (t, r) in result_of_task {
            result_of[t as usize] = r;
        }
        Ok(Plan {
            keys: order.iter().map(|t| t.key().clone()).collect(),
            kinds: order.iter().map(|t| t.kind().clone()).collect(),
            slot_start,
            dep_start,
            dependents,
            result_of,
            n_results: requested.iter().map(|&r| r as usize + 1).max().unwrap_or(0),
            requested,
            topo,
            roots,
        })
    }

    /// The number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Task `t`'s input slots.
    pub(crate) fn slots(&self, t: u32) -> std::ops::Range<usize> {
        self.slot_start[t as usize] as usize..self.slot_start[t as usize + 1] as usize
    }

    /// Task `t`'s dependents and the slots its output fills.
    pub(crate) fn dependents(&self, t: u32) -> &[(u32, u32)] {
        &self.dependents
            [self.dep_start[t as usize] as usize..self.dep_start[t as usize + 1] as usize]
    }
}
