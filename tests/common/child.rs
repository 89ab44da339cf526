//! A child process of the running test binary that computes one shipped graph: the far side of
//! the round-trip tests. The child is killed when its handle drops, also when a test fails.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use partita::runtime::Value;
use partita::{decode_outcome, encode_graph, serve_graph, Graph, Runtime, TaskKey};

/// The flag that puts the test binary in child mode.
pub(crate) const SERVE_FLAG: &str = "--serve-graph";

/// Child mode: reads a graph on stdin, computes it, writes the outcome on stdout.
pub(crate) fn serve() {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .expect("read the graph");
    let rt = Runtime::builder().build().expect("runtime");
    let reply = serve_graph(&rt, &bytes);
    std::io::stdout()
        .write_all(&reply)
        .expect("write the outcome");
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `bytes` to a fresh child and returns what it wrote back, within `limit`.
pub(crate) fn exchange(bytes: &[u8], limit: Duration) -> Vec<u8> {
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .arg(SERVE_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let mut child = KillOnDrop(child);
    let mut stdin = child.0.stdin.take().expect("stdin");
    let mut stdout = child.0.stdout.take().expect("stdout");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let start = Instant::now();
    let out = rx
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the child did not answer within {limit:?}"));
    writer.join().expect("writer");
    let status = child.0.wait().expect("child status");
    assert!(
        status.success(),
        "child exited with {status} after {:?}",
        start.elapsed()
    );
    out
}

/// Computes `outputs` of `graph` in a child process and returns the values it sent back.
pub(crate) fn compute_remote(
    graph: &Graph,
    outputs: &[TaskKey],
) -> partita::runtime::Result<Vec<Value>> {
    let bytes = encode_graph(graph, outputs)?;
    let reply = exchange(&bytes, Duration::from_secs(120));
    let values = decode_outcome(&reply)?;
    assert_eq!(
        values.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        outputs,
        "the child answered other keys"
    );
    Ok(values.into_iter().map(|(_, v)| v).collect())
}
