//! The scheduler's state machine, without sockets: withholding, placement by locality, release,
//! recovery from a lost worker, and the graphs it refuses.

use partita_runtime::{BuildId, GraphShape, ShapeTask, TaskKey};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::{Asked, Outgoing, State, TaskState};
use crate::proto::{Completed, ComputeEvent, SchedulerMessage};

pub(super) const BUILD: BuildId = BuildId([7; 16]);

type Rx<T> = UnboundedReceiver<Result<T, tonic::Status>>;

fn key(i: u64) -> TaskKey {
    TaskKey::new("t", i)
}

/// A graph of tasks `0..n` where task `i` reads `deps[i]`, asking for `outputs`.
pub(super) fn shape(deps: &[&[u64]], outputs: &[u64]) -> GraphShape {
    GraphShape {
        build: BUILD,
        ops: vec![("op".into(), Vec::new())],
        tasks: deps
            .iter()
            .enumerate()
            .map(|(i, ds)| ShapeTask {
                key: key(i as u64),
                deps: ds.iter().map(|&d| key(d)).collect(),
                op: 0,
            })
            .collect(),
        outputs: outputs.iter().map(|&o| key(o)).collect(),
    }
}

fn worker(s: &mut State, name: &str, threads: u32) -> (u64, Rx<SchedulerMessage>) {
    let (tx, rx) = unbounded_channel();
    let id = s
        .join(name, &format!("http://{name}"), threads, BUILD, tx)
        .unwrap();
    (id, rx)
}

fn submit(s: &mut State, g: GraphShape) -> (u64, Rx<ComputeEvent>) {
    let (tx, rx) = unbounded_channel();
    let id = s
        .submit(g, Asked::default(), tx, &mut Outgoing::default())
        .unwrap();
    (id, rx)
}

/// Runs a scheduling round and returns what each worker was sent.
fn round(s: &mut State) -> Outgoing {
    let mut out = Outgoing::default();
    s.schedule(&mut out);
    out
}

fn done(s: &mut State, w: u64, graph: u64, task: u32, nbytes: u64) -> Outgoing {
    let mut out = Outgoing::default();
    s.completed(
        w,
        &Completed {
            graph,
            task,
            nbytes,
            micros: 0,
            skipped: false,
        },
        &mut out,
    );
    s.schedule(&mut out);
    out
}

fn assigned(out: &Outgoing, w: u64) -> Vec<u32> {
    out.0
        .get(&w)
        .map(|m| m.assign.iter().map(|a| a.task).collect())
        .unwrap_or_default()
}

#[test]
fn roots_are_withheld_until_a_worker_has_room() {
    let mut s = State::default();
    let (w, _rx) = worker(&mut s, "a", 1);
    let deps: Vec<&[u64]> = vec![&[]; 100];
    let (g, _events) = submit(&mut s, shape(&deps, &[99]));
    // One thread: two roots, plus the slack, in flight.
    let window = (super::SATURATION + super::ROOT_SLACK) as usize;
    assert_eq!(
        assigned(&round(&mut s), w),
        (0..window as u32).collect::<Vec<_>>()
    );
    assert!(assigned(&round(&mut s), w).is_empty());
    assert_eq!(assigned(&done(&mut s, w, g, 0, 8), w), vec![window as u32]);
    assert_eq!(s.roots.len(), 100 - window - 1);
}

#[test]
fn a_task_that_reads_others_goes_before_the_roots() {
    let mut s = State::default();
    let (w, _rx) = worker(&mut s, "a", 1);
    // Task 0 is read by 1; 2.. are roots that fill the window.
    let mut deps: Vec<&[u64]> = vec![&[], &[0]];
    deps.extend(std::iter::repeat_n(&[][..], 200));
    let (g, _events) = submit(&mut s, shape(&deps, &[1]));
    round(&mut s);
    let out = done(&mut s, w, g, 0, 8);
    // The window is full of roots, yet task 1 goes at once, ahead of the next root.
    assert_eq!(assigned(&out, w)[0], 1);
}

#[test]
fn a_task_goes_where_its_inputs_are() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 4);
    let (b, _rb) = worker(&mut s, "b", 4);
    // 0 and 1 are roots; 2 reads 0, 3 reads 1 (and a little of 0).
    let (g, _events) = submit(&mut s, shape(&[&[], &[], &[0], &[1, 0]], &[2, 3]));
    let first = round(&mut s);
    let (on_a, on_b) = (assigned(&first, a), assigned(&first, b));
    assert_eq!(on_a.len() + on_b.len(), 2);
    // Wherever the roots went, finish them there, with 1 reporting many more bytes than 0.
    let holder = |t: u32| if on_a.contains(&t) { a } else { b };
    let (h0, h1) = (holder(0), holder(1));
    assert_ne!(h0, h1, "the two roots go to the two idle workers");
    done(&mut s, h0, g, 0, 10);
    done(&mut s, h1, g, 1, 1_000_000);
    let graph = &s.graphs[&g];
    assert_eq!(graph.state[2], TaskState::Processing(h0));
    assert_eq!(graph.state[3], TaskState::Processing(h1));
}

#[test]
fn a_value_is_released_once_its_readers_are_done() {
    let mut s = State::default();
    let (w, _rx) = worker(&mut s, "a", 4);
    let (g, mut events) = submit(&mut s, shape(&[&[], &[0], &[1]], &[2]));
    round(&mut s);
    done(&mut s, w, g, 0, 1);
    let out = done(&mut s, w, g, 1, 1);
    let released: Vec<u32> = out.0[&w]
        .release
        .iter()
        .flat_map(|r| r.tasks.clone())
        .collect();
    assert_eq!(released, vec![0]);
    assert_eq!(s.graphs[&g].state[0], TaskState::Released);
    let out = done(&mut s, w, g, 2, 1);
    // The output stays until the client releases the compute.
    let released: Vec<u32> = out.0.get(&w).map_or_else(Vec::new, |m| {
        m.release.iter().flat_map(|r| r.tasks.clone()).collect()
    });
    assert_eq!(released, vec![1]);
    let mut last = None;
    while let Ok(e) = events.try_recv() {
        last = Some(e.unwrap());
    }
    let last = last.unwrap();
    assert!(last.done);
    assert_eq!(last.outputs.len(), 1);
    assert_eq!(last.outputs[0].flight, "http://a");
}

/// Every event compute `g`'s client has been sent so far.
fn events_of(rx: &mut Rx<ComputeEvent>) -> Vec<ComputeEvent> {
    let mut all = Vec::new();
    while let Ok(e) = rx.try_recv() {
        all.push(e.unwrap());
    }
    all
}

fn lost(s: &mut State, w: u64) -> Outgoing {
    let mut out = Outgoing::default();
    s.lost(w, &mut out);
    s.schedule(&mut out);
    out
}

/// A chain 0 -> 1 -> 2 (output 2) and a second root 3 read by 2: after 0 and 1 finish on `a`
/// (0 is released once 1 has read it), `a` is lost while 2 waits for 3. Task 1 is needed
/// again, so it is recomputed, and so is 0, released but needed by 1 again.
#[test]
fn a_lost_worker_is_recomputed_from_lineage() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 1);
    let (g, mut events) = submit(&mut s, shape(&[&[], &[0], &[1, 3], &[]], &[2]));
    let first = round(&mut s);
    assert_eq!(assigned(&first, a), vec![0, 3]);
    done(&mut s, a, g, 0, 8);
    done(&mut s, a, g, 1, 8);
    assert_eq!(s.graphs[&g].state[0], TaskState::Released);
    let (b, _rb) = worker(&mut s, "b", 1);
    // 3 was still assigned to a: it runs again too.
    let out = lost(&mut s, a);
    let mut on_b = assigned(&out, b);
    on_b.sort_unstable();
    assert_eq!(on_b, vec![0, 3]);
    let graph = &s.graphs[&g];
    assert_eq!(graph.state[1], TaskState::Waiting);
    assert_eq!(graph.state[2], TaskState::Waiting);
    assert_eq!(graph.waiting[2], 2);
    let told = events_of(&mut events);
    let told = told.iter().find(|e| !e.lost.is_empty()).unwrap();
    assert_eq!(told.lost, vec!["a (http://a)".to_string()]);
    let mut again: Vec<u64> = told.recomputed.iter().map(|k| k.index).collect();
    again.sort_unstable();
    assert_eq!(again, vec![0, 1]);
    // The compute finishes on b, and says so once.
    assert_eq!(assigned(&done(&mut s, b, g, 0, 8), b), vec![1]);
    assert!(assigned(&done(&mut s, b, g, 3, 8), b).is_empty());
    assert_eq!(assigned(&done(&mut s, b, g, 1, 8), b), vec![2]);
    assert_eq!(s.graphs[&g].state[0], TaskState::Released);
    done(&mut s, b, g, 2, 8);
    let finished: Vec<ComputeEvent> = events_of(&mut events)
        .into_iter()
        .filter(|e| e.done)
        .collect();
    assert_eq!(finished.len(), 1);
    assert!(finished[0].error.is_none());
    assert_eq!(finished[0].outputs[0].flight, "http://b");
    assert_eq!(s.graphs[&g].finished, 4);
}

/// A worker that took part in a compute and holds nothing it still needs is lost: the client
/// hears of it, and nothing is computed again.
#[test]
fn a_lost_worker_that_held_nothing_needed_is_reported() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 1);
    let (b, _rb) = worker(&mut s, "b", 1);
    // Two roots, 2 reads both, 3 reads 2.
    let (g, mut events) = submit(&mut s, shape(&[&[], &[], &[0, 1], &[2]], &[3]));
    let first = round(&mut s);
    let (on_a, on_b) = (assigned(&first, a), assigned(&first, b));
    assert_eq!(on_a.len() + on_b.len(), 2, "{on_a:?} {on_b:?}");
    let mut next = Outgoing::default();
    for (w, tasks) in [(a, on_a), (b, on_b)] {
        for t in tasks {
            next.0.extend(done(&mut s, w, g, t, 8).0);
        }
    }
    let x = if assigned(&next, a) == vec![2] { a } else { b };
    assert_eq!(assigned(&next, x), vec![2]);
    assert_eq!(assigned(&done(&mut s, x, g, 2, 8), x), vec![3]);
    let y = if x == a { b } else { a };
    // y ran a root whose value 2 has read: it holds nothing needed and runs nothing.
    assert!(s.graphs[&g]
        .state
        .iter()
        .all(|&t| t != TaskState::Memory(y)));
    events_of(&mut events);
    lost(&mut s, y);
    let told = events_of(&mut events);
    let name = if y == a {
        "a (http://a)"
    } else {
        "b (http://b)"
    };
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].lost, vec![name.to_string()]);
    assert!(told[0].recomputed.is_empty());
    done(&mut s, x, g, 3, 8);
    let finished: Vec<ComputeEvent> = events_of(&mut events)
        .into_iter()
        .filter(|e| e.done)
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(s.graphs[&g].finished, 4);
}

/// An output lost after the compute finished, before its client fetched it, is computed
/// again, and the client is told where it is now.
#[test]
fn an_output_lost_before_its_fetch_is_computed_again() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 1);
    let (g, mut events) = submit(&mut s, shape(&[&[], &[0]], &[1]));
    round(&mut s);
    done(&mut s, a, g, 0, 8);
    done(&mut s, a, g, 1, 8);
    assert!(s.graphs[&g].ended);
    let (b, _rb) = worker(&mut s, "b", 1);
    assert_eq!(assigned(&lost(&mut s, a), b), vec![0]);
    assert_eq!(assigned(&done(&mut s, b, g, 0, 8), b), vec![1]);
    done(&mut s, b, g, 1, 8);
    let located: Vec<String> = events_of(&mut events)
        .into_iter()
        .filter(|e| e.done)
        .map(|e| e.outputs[0].flight.clone())
        .collect();
    assert_eq!(
        located,
        vec!["http://a".to_string(), "http://b".to_string()]
    );
}

/// A persist keeps its output under an id, on its worker and as copies on two more; a lost
/// holder is replaced from a surviving copy, and a later graph reads the partition where a copy
/// is, without computing it.
#[test]
fn a_persisted_partition_keeps_its_copies() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 1);
    let (b, _rb) = worker(&mut s, "b", 1);
    let (c, _rc) = worker(&mut s, "c", 1);
    let (tx, mut events) = unbounded_channel();
    let g = s
        .submit(
            shape(&[&[]], &[0]),
            Asked {
                replicas: 3,
                ..Asked::default()
            },
            tx,
            &mut Outgoing::default(),
        )
        .unwrap();
    let on =
        |out: &Outgoing| -> u64 { *out.0.iter().find(|(_, m)| !m.assign.is_empty()).unwrap().0 };
    let holder = on(&round(&mut s));
    let out = done(&mut s, holder, g, 0, 100);
    assert_eq!(out.0[&holder].keep.len(), 1);
    let id = out.0[&holder].keep[0].id;
    let copying: Vec<u64> = out
        .0
        .iter()
        .filter(|(_, m)| m.replicate.iter().any(|r| r.id == id))
        .map(|(&w, _)| w)
        .collect();
    assert_eq!(copying.len(), 2);
    assert!(!copying.contains(&holder));
    let last = events_of(&mut events).pop().unwrap();
    assert_eq!(last.outputs[0].persisted, id);
    for &w in &copying {
        s.replicated(w, id, &mut Outgoing::default());
    }
    assert_eq!(s.persisted[&id].holders.len(), 3);
    // The compute is released; the partition stays.
    s.release_graph(g, &mut Outgoing::default());
    assert!(s.persisted.contains_key(&id));

    // A holder is lost: a new worker gets a copy from a survivor.
    let (d, _rd) = worker(&mut s, "d", 1);
    let out = lost(&mut s, holder);
    assert_eq!(s.persisted[&id].holders.len(), 2);
    assert_eq!(out.0[&d].replicate[0].id, id);

    // A graph that reads it: task 1 goes to a holder and reads its copy there.
    let mut read = shape(&[&[], &[0]], &[1]);
    read.ops.push((
        partita_runtime::PERSISTED.into(),
        partita_runtime::encode_params("id", &id).unwrap(),
    ));
    read.tasks[0].op = 1;
    let (g2, _e2) = submit(&mut s, read);
    let out = round(&mut s);
    let w = on(&out);
    assert!(s.persisted[&id].holders.contains(&w));
    let dep = &out.0[&w].assign[0].deps[0];
    assert_eq!((dep.persisted, dep.flight.as_str()), (id, ""));
    assert_eq!(s.graphs[&g2].finished, 1);
    let _ = (a, b, c);
}

/// A task whose input was lost while it ran elsewhere reports the input missing: the input is
/// computed again, then the task runs again.
#[test]
fn a_missing_input_is_computed_again() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 1);
    let (g, _events) = submit(&mut s, shape(&[&[], &[0]], &[1]));
    round(&mut s);
    done(&mut s, a, g, 0, 8);
    assert_eq!(s.graphs[&g].state[1], TaskState::Processing(a));
    let error = crate::proto::WireError {
        kind: "Cluster".into(),
        message: "fetching (t, 0): connection refused".into(),
        keys: Vec::new(),
    };
    let mut out = Outgoing::default();
    s.refetch(a, g, 1, &[0], error, &mut out);
    s.schedule(&mut out);
    assert_eq!(assigned(&out, a), vec![0]);
    assert_eq!(s.graphs[&g].state[1], TaskState::Waiting);
    assert_eq!(assigned(&done(&mut s, a, g, 0, 8), a), vec![1]);
}

/// A task assigned to three workers as each died fails its compute as `KilledWorker`, naming
/// them; it is not assigned a fourth time.
#[test]
fn a_task_that_kills_its_workers_is_poison() {
    let mut s = State::default();
    let (g, mut events) = submit(&mut s, shape(&[&[]], &[0]));
    for name in ["a", "b", "c"] {
        let (w, _rx) = worker(&mut s, name, 1);
        assert_eq!(assigned(&round(&mut s), w), vec![0]);
        lost(&mut s, w);
    }
    let (d, _rd) = worker(&mut s, "d", 1);
    assert!(assigned(&round(&mut s), d).is_empty());
    assert!(!s.graphs.contains_key(&g));
    let failure = events_of(&mut events)
        .into_iter()
        .find_map(|e| e.error)
        .unwrap();
    assert_eq!(failure.kind, "KilledWorker");
    for name in ["a (http://a)", "b (http://b)", "c (http://c)"] {
        assert!(failure.message.contains(name), "{}", failure.message);
    }
}

/// A worker that sends nothing for the timeout is found by the watch, and counts as lost.
#[test]
fn a_silent_worker_is_found() {
    let mut s = State {
        options: super::SchedulerOptions {
            worker_timeout: std::time::Duration::from_millis(20),
            ..Default::default()
        },
        ..State::default()
    };
    let (a, _ra) = worker(&mut s, "a", 1);
    assert!(s.silent_workers().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(40));
    assert_eq!(s.silent_workers(), vec![a]);
}

/// A compute whose client went away is forgotten.
#[test]
fn an_abandoned_compute_is_found() {
    let mut s = State::default();
    let (g, events) = submit(&mut s, shape(&[&[]], &[0]));
    assert!(s.abandoned_graphs().is_empty());
    drop(events);
    assert_eq!(s.abandoned_graphs(), vec![g]);
}

#[test]
fn a_graph_of_another_build_is_refused() {
    let mut s = State::default();
    let _w = worker(&mut s, "a", 1);
    let mut g = shape(&[&[]], &[0]);
    g.build = BuildId([9; 16]);
    let (tx, _rx) = unbounded_channel();
    let err = s
        .submit(g, Asked::default(), tx, &mut Outgoing::default())
        .unwrap_err();
    assert_eq!(err.kind(), "BuildMismatch");
    let (tx, _rx) = unbounded_channel();
    let err = s
        .join("b", "http://b", 1, BuildId([9; 16]), tx)
        .unwrap_err();
    assert!(err.contains("build"), "{err}");
}

#[test]
fn a_cycle_is_refused_naming_a_task_on_it() {
    let mut s = State::default();
    let (tx, _rx) = unbounded_channel();
    let err = s
        .submit(
            shape(&[&[], &[2], &[1]], &[2]),
            Asked::default(),
            tx,
            &mut Outgoing::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), "Cycle");
    assert!(matches!(err.key(), Some(k) if *k == key(1) || *k == key(2)));
}

#[test]
fn a_failure_reads_as_the_output_that_needed_it() {
    let mut s = State::default();
    let _w = worker(&mut s, "a", 1);
    let (g, _events) = submit(&mut s, shape(&[&[], &[0], &[]], &[2, 1]));
    let root = crate::proto::WireError {
        kind: "TaskPanicked".into(),
        message: "task (t, 0) panicked: boom".into(),
        keys: vec![crate::proto::Key::from(&key(0))],
    };
    let seen = s.as_seen_by_output(g, 0, root);
    assert_eq!(seen.kind, "DependencyFailed");
    let chain: Vec<TaskKey> = seen.keys.iter().map(TaskKey::from).collect();
    assert_eq!(chain, vec![key(1), key(0)]);
}
