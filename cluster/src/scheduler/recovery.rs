//! Recovery from a lost worker, from lineage.
//!
//! The scheduler keeps every compute's whole graph until its client releases it, so it can
//! always say how a value was made. When a worker is lost (its stream broke, or it was silent
//! for the worker timeout), for each compute still running:
//!
//! 1. Each task assigned to the worker counts the death against itself. A task that has been
//!    assigned to `allowed_failures` workers as they died is taken to be their cause: it fails
//!    its compute as `KilledWorker`, naming it and the workers. (As in Dask, a task counts as
//!    running from its assignment: a worker's queued tasks count too.)
//! 2. Each value it held that something still needs is gone. Those tasks are computed again,
//!    and so, recursively, is every input of theirs whose value was already released. Tasks
//!    that were assigned to it are assigned again elsewhere.
//! 3. A task waiting for a lost value waits again. A task running on another worker that had not
//!    fetched a lost input yet fails to fetch it and reports it missing (`Erred::missing`); it
//!    runs again once the input is back. That report is also how a holder that vanished
//!    between two rounds is found: a missing input is computed again at once.
//!
//! The client sees no error, only events: `WorkerLost`, and `TaskRecomputed` for every finished
//! task computed again.
//!
//! A compute that has already told its client where its outputs are, and lost one of them
//! before the client fetched it, is recovered too: the output is computed again and the client,
//! whose fetch failed, is told where it is now.

use partita_runtime::{Error as RuntimeError, TaskKey};

use super::{ComputeEvent, Outgoing, State, TaskState, WireError};
use crate::proto::Key;

/// How often a task may fail to fetch an input before its compute fails with that error: each
/// time the input is computed again, so more than a few means it is not coming back.
const MAX_REFETCHES: u32 = 8;

impl State {
    /// Removes worker `w`: recomputes what it held that is still needed, assigns again what it
    /// ran, and fails a compute whose task has now been assigned to too many dying workers.
    pub(super) fn lost(&mut self, w: u64, out: &mut Outgoing) {
        let Some(worker) = self.workers.remove(&w) else {
            return;
        };
        let who = format!("{} ({})", worker.name, worker.flight);
        tracing::warn!(worker = %who, "worker lost");
        self.holder_lost(w);
        let allowed = self.options.allowed_failures.max(1) as usize;
        let graphs: Vec<u64> = self.graphs.keys().copied().collect();
        for g in graphs {
            let Some(graph) = self.graphs.get_mut(&g) else {
                continue;
            };
            if graph.ended {
                // Its client is fetching its outputs: an output lost with the worker is
                // computed again, and the client is told where it is now.
                let holds_output = graph
                    .outputs
                    .iter()
                    .any(|&o| graph.state[o as usize] == TaskState::Memory(w));
                if !holds_output {
                    continue;
                }
                graph.ended = false;
            }
            let (mut lost, mut rerun, mut poison) = (Vec::new(), Vec::new(), None);
            for (t, state) in graph.state.iter_mut().enumerate() {
                if let (TaskState::Memory(x), Some(pid)) = (*state, graph.stored.get(&(t as u32))) {
                    // A persisted partition: read from another copy, or from none.
                    if x == w {
                        let other = self.persisted.get(pid).and_then(|p| p.holders.first());
                        match other {
                            Some(&h) => *state = TaskState::Memory(h),
                            None => lost.push(t as u32),
                        }
                    }
                    continue;
                }
                match *state {
                    TaskState::Processing(x) if x == w => {
                        let deaths = graph.deaths.entry(t as u32).or_default();
                        deaths.push(who.clone());
                        if deaths.len() >= allowed && poison.is_none() {
                            poison = Some((t as u32, deaths.clone()));
                        }
                        rerun.push(t as u32);
                    }
                    TaskState::Memory(x) if x == w => lost.push(t as u32),
                    _ => {}
                }
            }
            if lost.is_empty() && rerun.is_empty() {
                // It took part and lost nothing still needed: its client hears of it all the
                // same, as it would while the worker held something.
                if worker.graphs.contains(&g) {
                    self.tell(g, vec![who.clone()], Vec::new());
                }
                continue;
            }
            if let Some((t, workers)) = poison {
                let error = RuntimeError::KilledWorker {
                    key: graph.keys[t as usize].clone(),
                    workers,
                };
                let error = self.as_seen_by_output(g, t, WireError::of(&error));
                self.fail(g, error, out);
                continue;
            }
            match self.recompute(g, &lost, &rerun) {
                Ok(again) => self.tell(g, vec![who.clone()], again),
                Err(key) => self.fail(g, WireError::of(&super::every_copy_lost(&key)), out),
            }
        }
        self.replicate_all(out);
    }

    /// Task `t` of compute `g`, assigned to worker `w`, could not fetch its inputs `missing`
    /// (`error` says why): they are computed again where they are no longer held, and `t` runs
    /// again once they are back.
    pub(super) fn refetch(
        &mut self,
        w: u64,
        g: u64,
        t: u32,
        missing: &[u32],
        error: WireError,
        out: &mut Outgoing,
    ) {
        let Some(graph) = self.graphs.get_mut(&g) else {
            return;
        };
        let n = graph.state.len();
        if graph.ended || t as usize >= n || graph.state[t as usize] != TaskState::Processing(w) {
            return;
        }
        let tries = graph.refetches.entry(t).or_default();
        *tries += 1;
        if *tries > MAX_REFETCHES || missing.iter().any(|&d| d as usize >= n) {
            let error = self.as_seen_by_output(g, t, error);
            self.fail(g, error, out);
            return;
        }
        // A missing input the scheduler still takes to be held is gone all the same; a
        // persisted one is read from another copy next time.
        let lost: Vec<u32> = missing
            .iter()
            .copied()
            .filter(|&d| matches!(graph.state[d as usize], TaskState::Memory(_)))
            .filter(|d| !graph.stored.contains_key(d))
            .collect();
        match self.recompute(g, &lost, &[t]) {
            Ok(again) if !again.is_empty() => self.tell(g, Vec::new(), again),
            Ok(_) => {}
            Err(key) => self.fail(g, WireError::of(&super::every_copy_lost(&key)), out),
        }
    }

    /// Computes again, in compute `g`, the finished tasks `lost` whose values are gone (those
    /// still needed) and the assigned tasks `rerun`, with every released input they need; a
    /// persisted partition among them is read from a surviving copy instead. Queues those that
    /// can run. Returns the keys of the finished tasks computed again, or the key of a persisted
    /// partition that is needed and has no copy left.
    fn recompute(&mut self, g: u64, lost: &[u32], rerun: &[u32]) -> Result<Vec<Key>, TaskKey> {
        let Some(graph) = self.graphs.get_mut(&g) else {
            return Ok(Vec::new());
        };
        let mut marked = vec![false; graph.state.len()];
        // Finished tasks to compute again: they will read their inputs again.
        let mut stack: Vec<u32> = Vec::new();
        for &t in lost {
            let t = t as usize;
            graph.state[t] = TaskState::Released;
            if graph.refs[t] == 0 || marked[t] {
                continue;
            }
            if graph.stored.contains_key(&(t as u32)) {
                return Err(graph.keys[t].clone());
            }
            marked[t] = true;
            stack.push(t as u32);
            // Its readers that counted it as there count it again.
            for &d in &graph.dependents[t] {
                let d = d as usize;
                if matches!(graph.state[d], TaskState::Waiting | TaskState::Queued) {
                    graph.waiting[d] += 1;
                    graph.state[d] = TaskState::Waiting;
                }
            }
        }
        let mut redo: Vec<u32> = Vec::with_capacity(stack.len() + rerun.len());
        for &t in rerun {
            if !marked[t as usize] {
                marked[t as usize] = true;
                redo.push(t);
            }
        }
        let mut again = Vec::new();
        while let Some(t) = stack.pop() {
            let ti = t as usize;
            redo.push(t);
            again.push(Key::from(&graph.keys[ti]));
            graph.finished -= 1;
            for &d in &graph.deps[ti] {
                let d = d as usize;
                graph.refs[d] += 1;
                if let Some(pid) = graph.stored.get(&(d as u32)) {
                    // A persisted input is never recomputed: it is read where a copy is.
                    if graph.state[d] == TaskState::Released {
                        let holder = self.persisted.get(pid).and_then(|p| p.holders.first());
                        match holder {
                            Some(&h) => graph.state[d] = TaskState::Memory(h),
                            None => return Err(graph.keys[d].clone()),
                        }
                    }
                    continue;
                }
                if graph.state[d] == TaskState::Released && !marked[d] {
                    marked[d] = true;
                    stack.push(d as u32);
                }
            }
        }
        for &t in &redo {
            graph.state[t as usize] = TaskState::Waiting;
        }
        for &t in &redo {
            let ti = t as usize;
            let waiting = graph.deps[ti]
                .iter()
                .filter(|&&d| !matches!(graph.state[d as usize], TaskState::Memory(_)))
                .count() as u32;
            graph.waiting[ti] = waiting;
            if waiting == 0 {
                graph.state[ti] = TaskState::Queued;
                if graph.deps[ti].is_empty() {
                    self.roots.push_back((g, t));
                } else {
                    self.ready.push_back((g, t));
                }
            }
        }
        Ok(again)
    }

    /// Tells compute `g`'s client of the workers it lost and the tasks computed again.
    fn tell(&self, g: u64, lost: Vec<String>, recomputed: Vec<Key>) {
        if let Some(graph) = self.graphs.get(&g) {
            let _ = graph.client.send(Ok(ComputeEvent {
                graph: g,
                finished: graph.finished,
                total: graph.keys.len() as u64,
                lost,
                recomputed,
                ..Default::default()
            }));
        }
    }

    /// Workers that have sent nothing for the worker timeout.
    pub(super) fn silent_workers(&self) -> Vec<u64> {
        let timeout = self.options.worker_timeout;
        self.workers
            .iter()
            .filter(|(_, w)| w.last_seen.elapsed() > timeout)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Computes whose client has gone away.
    pub(super) fn abandoned_graphs(&self) -> Vec<u64> {
        self.graphs
            .iter()
            .filter(|(_, g)| g.client.is_closed())
            .map(|(&id, _)| id)
            .collect()
    }
}
