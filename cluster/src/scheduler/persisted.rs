//! Partitions persisted on the workers, and their copies.
//!
//! A compute asked with `replicas > 0` keeps its outputs: when it finishes, the worker holding
//! each output moves it into its persisted store (`Keep`) under a new id, and the scheduler
//! asks other workers to copy it from there (`Replicate`, a Flight `do_get` worker to worker)
//! until `replicas` distinct workers hold it. A later graph names the partition by id (the
//! `partita.persisted` operation); its tasks read the copy on their own worker, or fetch one
//! from the least busy holder.
//!
//! The scheduler is the one owner of the policy: it alone decides where copies live. When a
//! holder is lost, a surviving copy is copied again until there are `replicas` once more, and
//! nothing is recomputed. A worker that joins is a candidate for missing copies. A partition
//! whose every copy is lost fails the computes that read it, with an error that says so.
//! Spilling is the worker's own business and does not change where copies are.

use partita_runtime::TaskKey;

use super::{Outgoing, State};
use crate::proto::{Key, PersistedInfo, Replicate};

/// How often one partition's copy may fail before the scheduler stops asking for more.
const MAX_COPY_FAILURES: u32 = 16;

/// One persisted partition.
pub(super) struct Persisted {
    pub(super) key: TaskKey,
    pub(super) nbytes: u64,
    /// The copies wanted.
    pub(super) replicas: u32,
    /// The workers that hold a copy.
    pub(super) holders: Vec<u64>,
    /// The workers copying it now.
    pub(super) pending: Vec<u64>,
    /// The sessions of the clients holding references, one entry per reference; with none
    /// left it is forgotten.
    pub(super) owners: Vec<u64>,
    failures: u32,
}

impl State {
    /// Records the value of a compute's output, held by worker `w`, as a new persisted
    /// partition of `replicas` copies referenced by the compute's session, tells `w` to keep
    /// it, and starts the copies. Returns its id.
    pub(super) fn keep(
        &mut self,
        g: u64,
        t: u32,
        w: u64,
        replicas: u32,
        out: &mut Outgoing,
    ) -> u64 {
        let (key, nbytes, session) = match self.graphs.get(&g) {
            Some(graph) => (
                graph.keys[t as usize].clone(),
                graph.nbytes[t as usize],
                graph.session,
            ),
            None => return 0,
        };
        self.next_persisted += 1;
        let id = self.next_persisted;
        out.to(w).keep.push(crate::proto::Keep {
            graph: g,
            task: t,
            id,
        });
        self.persisted.insert(
            id,
            Persisted {
                key,
                nbytes,
                replicas: replicas.max(1),
                holders: vec![w],
                pending: Vec::new(),
                owners: vec![session],
                failures: 0,
            },
        );
        self.replicate(id, out);
        id
    }

    /// Asks workers that hold no copy of `id`, the least loaded first, to copy it, until
    /// copies held and under way reach its replicas.
    pub(super) fn replicate(&mut self, id: u64, out: &mut Outgoing) {
        let Some(p) = self.persisted.get_mut(&id) else {
            return;
        };
        let have = p.holders.len() + p.pending.len();
        if p.holders.is_empty() || have >= p.replicas as usize || p.failures > MAX_COPY_FAILURES {
            return;
        }
        let mut candidates: Vec<(u64, u32, u64)> = self
            .workers
            .iter()
            .filter(|(w, _)| !p.holders.contains(w) && !p.pending.contains(w))
            .map(|(&w, worker)| (worker.memory, worker.processing, w))
            .collect();
        candidates.sort_unstable();
        for (i, (_, _, w)) in candidates
            .into_iter()
            .take(p.replicas as usize - have)
            .enumerate()
        {
            let source = p.holders[i % p.holders.len()];
            let Some(flight) = self.workers.get(&source).map(|s| s.flight.clone()) else {
                continue;
            };
            p.pending.push(w);
            out.to(w).replicate.push(Replicate {
                id,
                key: Some(Key::from(&p.key)),
                flight,
            });
        }
    }

    /// Starts the copies every persisted partition lacks (after a loss, or a join).
    pub(super) fn replicate_all(&mut self, out: &mut Outgoing) {
        let ids: Vec<u64> = self.persisted.keys().copied().collect();
        for id in ids {
            self.replicate(id, out);
        }
    }

    /// Worker `w` now holds a copy of `id`.
    pub(super) fn replicated(&mut self, w: u64, id: u64, out: &mut Outgoing) {
        match self.persisted.get_mut(&id) {
            Some(p) => {
                p.pending.retain(|&x| x != w);
                if !p.holders.contains(&w) {
                    p.holders.push(w);
                }
            }
            // Forgotten while it was copied.
            None => out.to(w).forget.push(id),
        }
    }

    /// Worker `w` could not copy `id`: another worker is asked.
    pub(super) fn replicate_failed(&mut self, w: u64, id: u64, out: &mut Outgoing) {
        if let Some(p) = self.persisted.get_mut(&id) {
            p.pending.retain(|&x| x != w);
            p.failures += 1;
        }
        self.replicate(id, out);
    }

    /// Drops a reference of `session`'s to each of `ids`; one with none left is forgotten on
    /// its holders.
    pub(super) fn forget(&mut self, session: u64, ids: &[u64], out: &mut Outgoing) {
        for id in ids {
            if let Some(p) = self.persisted.get_mut(id) {
                if let Some(i) = p.owners.iter().position(|&o| o == session) {
                    p.owners.swap_remove(i);
                }
            }
            self.forget_unowned(*id, out);
        }
    }

    /// Drops every reference of a session that has ended: its client has gone.
    pub(super) fn session_ended(&mut self, session: u64, out: &mut Outgoing) {
        let ids: Vec<u64> = self.persisted.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.persisted.get_mut(&id) {
                p.owners.retain(|&o| o != session);
            }
            self.forget_unowned(id, out);
        }
    }

    /// Forgets `id` on its holders if no client references it any more.
    fn forget_unowned(&mut self, id: u64, out: &mut Outgoing) {
        if !self.persisted.get(&id).is_some_and(|p| p.owners.is_empty()) {
            return;
        }
        let p = self.persisted.remove(&id).expect("looked up above");
        for w in p.holders.iter().chain(&p.pending) {
            out.to(*w).forget.push(id);
        }
    }

    /// Removes lost worker `w` from every partition's holders.
    pub(super) fn holder_lost(&mut self, w: u64) {
        for p in self.persisted.values_mut() {
            p.holders.retain(|&x| x != w);
            p.pending.retain(|&x| x != w);
        }
    }

    /// The holder of `id` a task on worker `w` reads from: `w` itself if it holds a copy, else
    /// the least busy holder. `None` once every copy is lost.
    pub(super) fn holder_for(&self, id: u64, w: u64) -> Option<u64> {
        let p = self.persisted.get(&id)?;
        if p.holders.contains(&w) {
            return Some(w);
        }
        p.holders
            .iter()
            .copied()
            .min_by_key(|h| self.workers.get(h).map_or(u32::MAX, |x| x.processing))
    }

    /// Every persisted partition, for the cluster's info.
    pub(super) fn persisted_info(&self) -> Vec<PersistedInfo> {
        let mut all: Vec<PersistedInfo> = self
            .persisted
            .iter()
            .map(|(&id, p)| {
                let holders: Vec<&super::Worker> = p
                    .holders
                    .iter()
                    .filter_map(|h| self.workers.get(h))
                    .collect();
                PersistedInfo {
                    id,
                    key: Some(Key::from(&p.key)),
                    nbytes: p.nbytes,
                    holders: holders.iter().map(|h| h.name.clone()).collect(),
                    flights: holders.iter().map(|h| h.flight.clone()).collect(),
                    replicas: p.replicas,
                }
            })
            .collect();
        all.sort_unstable_by_key(|p| p.id);
        all
    }
}
