//! The scheduler against simulated workers that die at random: random graphs, random finishing
//! orders, workers lost at random moments (and replaced), fetches from the dead that fail. Each
//! simulated worker keeps the values it computed; a task's value is a hash of its key and its
//! inputs' values, so a task that ran on a stale or missing input gives a wrong value. Every
//! compute must end without error, its outputs must be where the scheduler says, and their
//! values must equal a sequential evaluation of the graph.

use std::collections::HashMap;

use proptest::prelude::*;
use tokio::sync::mpsc::unbounded_channel;

use super::test::{shape, BUILD};
use super::{Asked, Outgoing, SchedulerOptions, State};
use crate::proto::{Assign, Completed, ComputeEvent, WireError};

/// One simulated worker: its values, and the tasks assigned to it, not yet run.
#[derive(Default)]
struct Sim {
    flight: String,
    values: HashMap<u32, u64>,
    assigned: Vec<Assign>,
}

fn value_of(task: u32, inputs: &[u64]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ u64::from(task);
    for &i in inputs {
        h = (h ^ i).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Delivers what a scheduling round sent: assignments queue up, releases drop values.
fn deliver(sims: &mut HashMap<u64, Sim>, out: Outgoing) {
    for (w, msg) in out.0 {
        let Some(sim) = sims.get_mut(&w) else {
            continue;
        };
        for r in msg.release {
            if r.tasks.is_empty() {
                sim.values.clear();
            }
            for t in r.tasks {
                sim.values.remove(&t);
            }
        }
        sim.assigned.extend(msg.assign);
    }
}

fn join(s: &mut State, sims: &mut HashMap<u64, Sim>, n: &mut u32) {
    *n += 1;
    let flight = format!("http://w{n}");
    let (tx, rx) = unbounded_channel();
    std::mem::forget(rx); // the simulation reads the Outgoing, not the channels
    let id = s.join(&format!("w{n}"), &flight, 2, BUILD, tx).unwrap();
    sims.insert(
        id,
        Sim {
            flight,
            ..Sim::default()
        },
    );
}

/// A random graph: task `i` reads up to 3 earlier tasks; the last few are the outputs.
fn graphs() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<u32>)> {
    (2_usize..40).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::btree_set(0..i as u32, 0..=3.min(i))
                        .prop_map(|s| s.into_iter().collect())
                        .boxed()
                }
            })
            .collect::<Vec<_>>();
        let outputs = proptest::collection::btree_set(0..n as u32, 1..=3.min(n))
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (deps, outputs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_compute_survives_random_losses(
        (deps, outputs) in graphs(),
        seed in any::<u64>(),
        loss_every in 3_u64..20,
    ) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut s = State {
            options: SchedulerOptions {
                allowed_failures: 1_000,
                ..SchedulerOptions::default()
            },
            ..State::default()
        };
        let mut sims: HashMap<u64, Sim> = HashMap::new();
        let mut named = 0;
        for _ in 0..3 {
            join(&mut s, &mut sims, &mut named);
        }
        let deps64: Vec<Vec<u64>> = deps
            .iter()
            .map(|ds| ds.iter().map(|&d| u64::from(d)).collect())
            .collect();
        let deps_of: Vec<&[u64]> = deps64.iter().map(Vec::as_slice).collect();
        let outputs64: Vec<u64> = outputs.iter().map(|&o| u64::from(o)).collect();
        let shape = shape(&deps_of, &outputs64);
        let (tx, mut events) = unbounded_channel::<Result<ComputeEvent, tonic::Status>>();
        let mut out = Outgoing::default();
        let g = s.submit(shape, Asked::default(), tx, &mut out).unwrap();
        s.schedule(&mut out);
        deliver(&mut sims, out);

        let mut finished = None;
        let mut losses = 0;
        for step in 0..20_000_u64 {
            while let Ok(e) = events.try_recv() {
                let e = e.unwrap();
                prop_assert!(e.error.is_none(), "failed: {:?}", e.error);
                if e.done {
                    finished = Some(e.outputs);
                }
            }
            if finished.is_some() {
                break;
            }
            let mut out = Outgoing::default();
            if step % loss_every == loss_every - 1 && losses < 6 {
                // A worker dies with its values and its queue; another joins.
                let ids: Vec<u64> = sims.keys().copied().collect();
                let w = ids[rng.usize(..ids.len())];
                sims.remove(&w);
                s.lost(w, &mut out);
                join(&mut s, &mut sims, &mut named);
                losses += 1;
            } else {
                let busy: Vec<u64> = sims
                    .iter()
                    .filter(|(_, sim)| !sim.assigned.is_empty())
                    .map(|(&w, _)| w)
                    .collect();
                if busy.is_empty() {
                    s.schedule(&mut out);
                    deliver(&mut sims, out);
                    continue;
                }
                let w = busy[rng.usize(..busy.len())];
                let sim = &mut sims.get_mut(&w).unwrap();
                let a = sim.assigned.swap_remove(rng.usize(..sim.assigned.len()));
                // Read each input where the scheduler says it is.
                let mut inputs = Vec::new();
                let mut missing = Vec::new();
                for d in &a.deps {
                    let holder = if d.flight.is_empty() {
                        Some(w)
                    } else {
                        sims.iter().find(|(_, x)| x.flight == d.flight).map(|(&h, _)| h)
                    };
                    match holder.and_then(|h| sims[&h].values.get(&d.task)) {
                        Some(&v) => inputs.push(v),
                        None => {
                            // Only a dead holder may lack a value the scheduler points to.
                            prop_assert!(
                                holder.is_none(),
                                "task {} sent to read {} from a live worker without it",
                                a.task,
                                d.task
                            );
                            missing.push(d.task);
                        }
                    }
                }
                if missing.is_empty() {
                    sims.get_mut(&w).unwrap().values.insert(a.task, value_of(a.task, &inputs));
                    s.completed(
                        w,
                        &Completed { graph: g, task: a.task, nbytes: 8, micros: 0, skipped: false },
                        &mut out,
                    );
                } else {
                    let error = WireError {
                        kind: "Cluster".into(),
                        message: "fetch failed".into(),
                        keys: Vec::new(),
                    };
                    if let Some(worker) = s.workers.get_mut(&w) {
                        worker.processing = worker.processing.saturating_sub(1);
                    }
                    s.refetch(w, g, a.task, &missing, error, &mut out);
                }
            }
            s.schedule(&mut out);
            deliver(&mut sims, out);
        }
        let located = finished.expect("the compute finished within 20,000 steps");

        // The reference: the graph evaluated in order.
        let mut reference: Vec<u64> = Vec::with_capacity(deps.len());
        for (i, ds) in deps.iter().enumerate() {
            let inputs: Vec<u64> = ds.iter().map(|&d| reference[d as usize]).collect();
            reference.push(value_of(i as u32, &inputs));
        }
        for (loc, &o) in located.iter().zip(&outputs) {
            let holder = sims.values().find(|x| x.flight == loc.flight);
            let holder = holder.expect("an output is on a live worker");
            prop_assert_eq!(holder.values.get(&o).copied(), Some(reference[o as usize]));
        }
    }
}
