//! The scheduler's state machine, without sockets: withholding, placement by locality, release,
//! a lost worker, and the graphs it refuses.

use partita_runtime::{BuildId, GraphShape, ShapeTask, TaskKey};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::{Outgoing, State, TaskState};
use crate::proto::{Completed, ComputeEvent, SchedulerMessage};

const BUILD: BuildId = BuildId([7; 16]);

type Rx<T> = UnboundedReceiver<Result<T, tonic::Status>>;

fn key(i: u64) -> TaskKey {
    TaskKey::new("t", i)
}

/// A graph of tasks `0..n` where task `i` reads `deps[i]`, asking for `outputs`.
fn shape(deps: &[&[u64]], outputs: &[u64]) -> GraphShape {
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
    let id = s.submit(g, tx).unwrap();
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

#[test]
fn a_lost_worker_fails_the_computes_that_needed_it() {
    let mut s = State::default();
    let (a, _ra) = worker(&mut s, "a", 4);
    let (g, mut events) = submit(&mut s, shape(&[&[], &[0]], &[1]));
    round(&mut s);
    s.lost(a, &mut Outgoing::default());
    assert!(!s.graphs.contains_key(&g));
    let mut failure = None;
    while let Ok(e) = events.try_recv() {
        failure = e.unwrap().error.or(failure);
    }
    let failure = failure.unwrap();
    assert_eq!(failure.kind, "Cluster");
    assert!(failure.message.contains("worker a"), "{}", failure.message);
}

#[test]
fn a_graph_of_another_build_is_refused() {
    let mut s = State::default();
    let _w = worker(&mut s, "a", 1);
    let mut g = shape(&[&[]], &[0]);
    g.build = BuildId([9; 16]);
    let (tx, _rx) = unbounded_channel();
    let err = s.submit(g, tx).unwrap_err();
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
    let err = s.submit(shape(&[&[], &[2], &[1]], &[2]), tx).unwrap_err();
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
