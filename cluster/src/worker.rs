//! A worker: the user's own executable in worker mode. It holds one stream to the scheduler,
//! runs the tasks assigned to it, keeps their values, and serves them to its peers and to
//! clients over Arrow Flight (`do_get` by ticket).
//!
//! A task's kernel is rebuilt from its operation by the registered operator, exactly as a shipped
//! graph is (see `partita_runtime::decode_graph`); its inputs come from this worker's store or
//! from the peer that holds them. A panicking or failing task is reported as that task's error,
//! and the worker goes on. When the scheduler's stream ends, the worker exits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult,
};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use parking_lot::Mutex;
use partita_runtime::{
    catch_panic, decode_value, encode_value, operator, BuildId, Held, Memory, TaskContext, TaskKey,
    Value,
};
use prost::Message as _;
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};

use crate::error::{Error, Result};
use crate::proto::{
    Assign, Completed, Erred, Hello, OpDef, SchedulerClient, SchedulerMessage, Ticket, WireError,
    WorkerMessage,
};
use crate::secret::{AddSecret, CheckSecret, Secret};

/// The largest gRPC message either plane accepts.
pub(crate) const MAX_MESSAGE: usize = 1 << 30;
/// How long a starting worker keeps trying to reach its scheduler.
const CONNECT_FOR: Duration = Duration::from_secs(60);
/// The size of the pieces a value travels in.
const CHUNK: usize = 1 << 20;

/// How a worker starts.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The scheduler's address (`http://host:port` or `host:port`).
    pub scheduler: String,
    /// The cluster's secret.
    pub secret: Secret,
    /// Where the worker's Flight service listens: loopback and a free port by default.
    pub listen: SocketAddr,
    /// The address peers and clients reach that service at, if not the one it listens on.
    pub advertise: Option<String>,
    /// Tasks run at once. Defaults to the number of CPUs.
    pub threads: usize,
    /// The worker's name in logs and in the scheduler's table.
    pub name: String,
    /// The most bytes of values the worker holds in memory; past 60% of it the least
    /// recently used spill to disk. Defaults to 80% of the machine's memory (or the cgroup's
    /// limit).
    pub memory_limit: u64,
}

impl WorkerOptions {
    /// Options for a worker of the scheduler at `scheduler`, with the defaults: Flight on
    /// `127.0.0.1` and a free port, one task per CPU, named after the process id.
    pub fn new(scheduler: impl Into<String>, secret: Secret) -> WorkerOptions {
        WorkerOptions {
            scheduler: scheduler.into(),
            secret,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            name: format!("worker-{}", std::process::id()),
            memory_limit: partita_runtime::default_memory_limit(),
        }
    }
}

/// How often every connection, on both planes and both ends, pings its peer over HTTP/2 ...
pub(crate) const PING_EVERY: Duration = Duration::from_secs(2);
/// ... and how long it waits for the answer before it counts the connection as broken and fails
/// what was in flight on it: a cut link fails a fetch within seconds instead of hanging.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 flow-control windows: a stream may have this many bytes in flight before its reader
/// acknowledges them ...
const STREAM_WINDOW: u32 = 8 << 20;
/// ... and a connection this many, over all its streams. HTTP/2's default of 64 KiB stalls a
/// large value on every round trip.
const CONNECTION_WINDOW: u32 = 64 << 20;
/// The largest HTTP/2 frame either end sends (the default is 16 KiB).
const MAX_FRAME: u32 = 1 << 20;

/// A server for either plane, with the pings and windows above.
pub(crate) fn server() -> Server {
    Server::builder()
        .http2_keepalive_interval(Some(PING_EVERY))
        .http2_keepalive_timeout(Some(PING_TIMEOUT))
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
}

pub(crate) fn endpoint(addr: &str) -> Result<Endpoint> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(url).map_err(|source| Error::Transport {
        what: format!("address {addr}"),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(PING_TIMEOUT)
        .http2_keep_alive_interval(PING_EVERY)
        .keep_alive_timeout(PING_TIMEOUT)
        .keep_alive_while_idle(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME))
}

pub(crate) type Authed = InterceptedService<Channel, AddSecret>;

/// A Flight client of the worker at `addr`, carrying the secret.
pub(crate) async fn flight_client(
    addr: &str,
    secret: &Secret,
) -> Result<FlightServiceClient<Authed>> {
    let channel = endpoint(addr)?
        .connect()
        .await
        .map_err(|source| Error::Transport {
            what: format!("worker data plane at {addr}"),
            source,
        })?;
    Ok(
        FlightServiceClient::with_interceptor(channel, AddSecret(secret.clone()))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

/// Fetches the value `ticket` names (a compute's task, or a persisted partition) from the
/// Flight service at `addr`. Returns it and the bytes that came over the wire.
pub(crate) async fn fetch(
    client: &mut FlightServiceClient<Authed>,
    addr: &str,
    ticket: Ticket,
    key: &TaskKey,
) -> Result<(Value, u64)> {
    let ticket = arrow_flight::Ticket {
        ticket: ticket.encode_to_vec().into(),
    };
    let what = || format!("fetching {key} from {addr}");
    let mut stream = client
        .do_get(ticket)
        .await
        .map_err(|e| Error::status(what(), e))?
        .into_inner();
    let mut codec = String::new();
    let mut bytes = Vec::new();
    while let Some(piece) = stream
        .message()
        .await
        .map_err(|e| Error::status(what(), e))?
    {
        if codec.is_empty() {
            codec = String::from_utf8_lossy(&piece.app_metadata).into_owned();
            // The whole value's size, to receive it without growing the buffer; a size from
            // outside is trusted only up to the largest message either plane accepts.
            if let Ok(len) = <[u8; 8]>::try_from(piece.data_header.as_ref()) {
                let len = u64::from_le_bytes(len).min(MAX_MESSAGE as u64) as usize;
                bytes.reserve_exact(len);
            }
        }
        bytes.extend_from_slice(&piece.data_body);
    }
    let value = decode_value(&key.to_string(), &codec, &bytes)?;
    Ok((value, bytes.len() as u64))
}

/// What a worker holds: its values, its persisted partitions and the graphs' operations.
struct Store {
    /// The values this worker holds, counted against its memory limit and spilled past its
    /// target.
    values: Mutex<FxHashMap<(u64, u32), Held>>,
    /// The persisted partitions it holds a copy of, by id; under the same limit.
    persisted: Mutex<FxHashMap<u64, Held>>,
    /// Bytes fetched from peers since the worker started.
    received: std::sync::atomic::AtomicU64,
    ops: Mutex<FxHashMap<u64, Arc<Vec<OpDef>>>>,
    memory: Arc<Memory>,
}

impl Store {
    fn new(name: &str, memory_limit: u64) -> Store {
        Store {
            values: Mutex::default(),
            persisted: Mutex::default(),
            received: std::sync::atomic::AtomicU64::new(0),
            ops: Mutex::default(),
            memory: Memory::with_limit(memory_limit, name),
        }
    }

    /// Writes what the worker holds and has received into a message for the scheduler.
    fn gauges(&self, msg: &mut WorkerMessage) {
        let stats = self.memory.stats();
        msg.memory = stats.managed;
        msg.spilled = stats.spilled_total;
        msg.received = self.received.load(std::sync::atomic::Ordering::Relaxed);
    }

    /// The value a ticket or an input names, if this worker holds it.
    fn get(&self, graph: u64, task: u32, persisted: u64) -> Option<Held> {
        if persisted != 0 {
            self.persisted.lock().get(&persisted).cloned()
        } else {
            self.values.lock().get(&(graph, task)).cloned()
        }
    }
}

/// The worker's Flight service: serves its values by ticket.
struct Flight {
    store: Arc<Store>,
}

type FlightStream<T> = BoxStream<'static, std::result::Result<T, Status>>;

fn unsupported<T>(what: &str) -> std::result::Result<T, Status> {
    Err(Status::unimplemented(format!(
        "a partita worker's Flight service serves do_get only, not {what}"
    )))
}

#[tonic::async_trait]
impl FlightService for Flight {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoExchangeStream = FlightStream<FlightData>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;

    async fn do_get(
        &self,
        request: Request<arrow_flight::Ticket>,
    ) -> std::result::Result<Response<Self::DoGetStream>, Status> {
        let t = Ticket::decode(request.into_inner().ticket)
            .map_err(|e| Status::invalid_argument(format!("a malformed ticket: {e}")))?;
        let v = self
            .store
            .get(t.graph, t.task, t.persisted)
            .ok_or_else(|| match t.persisted {
                0 => Status::not_found(format!(
                    "this worker holds no task {} of compute {}",
                    t.task, t.graph
                )),
                id => Status::not_found(format!("this worker holds no persisted partition {id}")),
            })?;
        let what = format!("task {} of compute {}", t.task, t.graph);
        let (codec, bytes) = tokio::task::spawn_blocking(move || {
            // A spilled value is read back from disk here, off the IO threads.
            encode_value(&what, &v.get()?)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let bytes = Bytes::from(bytes);
        let mut pieces = Vec::with_capacity(bytes.len() / CHUNK + 1);
        let mut at = 0;
        loop {
            let end = (at + CHUNK).min(bytes.len());
            let mut piece = FlightData::new().with_data_body(bytes.slice(at..end));
            if at == 0 {
                // The first piece names the codec and says how many bytes follow in all.
                piece = piece
                    .with_app_metadata(Bytes::from(codec.to_string()))
                    .with_data_header(Bytes::copy_from_slice(&(bytes.len() as u64).to_le_bytes()));
            }
            pieces.push(Ok(piece));
            at = end;
            if at >= bytes.len() {
                break;
            }
        }
        Ok(Response::new(futures_util::stream::iter(pieces).boxed()))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Self::HandshakeStream>, Status> {
        unsupported("handshake")
    }
    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> std::result::Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("list_flights")
    }
    async fn get_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        unsupported("get_flight_info")
    }
    async fn poll_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<PollInfo>, Status> {
        unsupported("poll_flight_info")
    }
    async fn get_schema(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<SchemaResult>, Status> {
        unsupported("get_schema")
    }
    async fn do_put(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoPutStream>, Status> {
        unsupported("do_put")
    }
    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("do_exchange")
    }
    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> std::result::Result<Response<Self::DoActionStream>, Status> {
        unsupported("do_action")
    }
    async fn list_actions(
        &self,
        _: Request<Empty>,
    ) -> std::result::Result<Response<Self::ListActionsStream>, Status> {
        unsupported("list_actions")
    }
}

/// Runs a worker until the scheduler's stream ends.
///
/// # Errors
/// The scheduler cannot be reached, or refuses this worker (a wrong secret, another build).
pub fn run_worker(options: WorkerOptions) -> Result<()> {
    // One IO thread per 8 task threads (at least one): on a small worker a second IO thread
    // costs more in wake-ups than it moves.
    let io = (options.threads / 8).clamp(1, 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io)
        .thread_name("partita-worker-io")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "the worker's IO threads".into(),
            source,
        })?;
    let result = rt.block_on(serve(options));
    rt.shutdown_background();
    result
}

async fn serve(options: WorkerOptions) -> Result<()> {
    let store = Arc::new(Store::new(&options.name, options.memory_limit));
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Io {
            path: options.listen.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        path: options.listen.to_string(),
        source,
    })?;
    let flight_addr = options
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let flight = FlightServiceServer::new(Flight {
        store: store.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    let flight = InterceptedService::new(
        flight,
        CheckSecret {
            secret: options.secret.clone(),
            plane: "worker data plane",
        },
    );
    tokio::spawn(
        server()
            .add_service(flight)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    // A worker may start before its scheduler (systemd, Kubernetes and Slurm start them in any
    // order): it tries again for a minute before it gives up.
    let endpoint = endpoint(&options.scheduler)?;
    let started = std::time::Instant::now();
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(source) if started.elapsed() > CONNECT_FOR => {
                return Err(Error::Transport {
                    what: format!(
                        "scheduler at {} (tried for {CONNECT_FOR:?})",
                        options.scheduler
                    ),
                    source,
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let mut scheduler =
        SchedulerClient::with_interceptor(channel, AddSecret(options.secret.clone()))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
    let (tx, rx) = unbounded_channel::<WorkerMessage>();
    tx.send(WorkerMessage {
        hello: Some(Hello {
            build: BuildId::current()?.0.to_vec(),
            flight: flight_addr,
            threads: options.threads as u32,
            name: options.name.clone(),
            pid: std::process::id(),
        }),
        ..Default::default()
    })
    .expect("the receiver is held below");
    let mut inbound = scheduler
        .work(UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| Error::status(format!("joining the scheduler at {}", options.scheduler), e))?
        .into_inner();
    let (report_tx, report_rx) = unbounded_channel::<Vec<Report>>();
    tokio::spawn(heartbeat(tx.clone(), store.clone()));
    tokio::spawn(batch_reports(report_rx, tx, store.clone()));
    let threads = options.threads.max(1);
    let jobs = task_threads(threads, &store, &report_tx)?;
    let peers = Arc::new(Peers {
        secret: options.secret.clone(),
        clients: Mutex::new(FxHashMap::default()),
    });
    loop {
        let msg: SchedulerMessage = match inbound.message().await {
            Ok(Some(m)) => m,
            // The scheduler has gone (or closed this worker's stream): so does the worker.
            Ok(None) => return Ok(()),
            Err(e) if e.code() == tonic::Code::Unauthenticated => {
                return Err(Error::status("the scheduler", e))
            }
            Err(_) => return Ok(()),
        };
        for g in msg.graphs {
            store.ops.lock().insert(g.graph, Arc::new(g.ops));
        }
        // Kept before the compute's release, which the same message or a later one carries.
        for k in msg.keep {
            if let Some(v) = store.values.lock().remove(&(k.graph, k.task)) {
                store.persisted.lock().insert(k.id, v);
            }
        }
        for id in msg.forget {
            store.persisted.lock().remove(&id);
        }
        for r in msg.replicate {
            let (store, peers, reports) = (store.clone(), peers.clone(), report_tx.clone());
            tokio::spawn(async move {
                let report = match copy(&r, &store, &peers).await {
                    Ok(()) => Report::Replicated(r.id),
                    Err(e) => {
                        tracing::warn!(id = r.id, "copying a persisted partition failed: {e}");
                        Report::ReplicateFailed(r.id)
                    }
                };
                let _ = reports.send(vec![report]);
            });
        }
        for r in msg.release {
            let mut values = store.values.lock();
            if r.tasks.is_empty() {
                values.retain(|(g, _), _| *g != r.graph);
                store.ops.lock().remove(&r.graph);
            } else {
                for t in r.tasks {
                    values.remove(&(r.graph, t));
                }
            }
        }
        let mut ready: Vec<Job> = Vec::with_capacity(msg.assign.len());
        for a in msg.assign {
            let ops = store.ops.lock().get(&a.graph).cloned();
            let local: Option<Vec<Held>> = a
                .deps
                .iter()
                .map(|d| store.get(a.graph, d.task, d.persisted))
                .collect();
            match local {
                // Every input is here: straight to the task threads.
                Some(inputs) => ready.push(Job { a, ops, inputs }),
                None => {
                    let (store, peers, jobs, reports) = (
                        store.clone(),
                        peers.clone(),
                        jobs.clone(),
                        report_tx.clone(),
                    );
                    tokio::spawn(async move {
                        match gather(&a, &store, &peers).await {
                            Ok(inputs) => {
                                let _ = jobs.send(vec![Job { a, ops, inputs }]);
                            }
                            Err((e, missing)) => {
                                let mut report = erred(&a, e);
                                if let Report::Erred(r) = &mut report {
                                    r.missing = missing;
                                }
                                let _ = reports.send(vec![report]);
                            }
                        }
                    });
                }
            }
        }
        // One hand-off per task thread for the whole batch, not one per task.
        let share = ready.len().div_ceil(threads).max(1);
        while !ready.is_empty() {
            let rest = ready.split_off(share.min(ready.len()));
            let _ = jobs.send(std::mem::replace(&mut ready, rest));
        }
    }
}

/// A task ready to run: its assignment, its graph's operations and its inputs' values.
struct Job {
    a: Assign,
    ops: Option<Arc<Vec<OpDef>>>,
    inputs: Vec<Held>,
}

fn erred(a: &Assign, e: Error) -> Report {
    Report::Erred(Erred {
        graph: a.graph,
        task: a.task,
        error: Some(WireError::of(&e.into_runtime())),
        missing: Vec::new(),
    })
}

/// Starts `n` task threads: each runs the jobs it takes, keeps their values and reports them.
fn task_threads(
    n: usize,
    store: &Arc<Store>,
    reports: &UnboundedSender<Vec<Report>>,
) -> Result<crossbeam_channel::Sender<Vec<Job>>> {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<Job>>();
    for i in 0..n.max(1) {
        let (rx, store, reports) = (rx.clone(), store.clone(), reports.clone());
        std::thread::Builder::new()
            .name(format!("partita-task-{i}"))
            .spawn(move || {
                for batch in rx {
                    let done: Vec<Report> = batch
                        .iter()
                        .map(|job| match run(job, &store) {
                            Ok(ran) => Report::Done(Completed {
                                graph: job.a.graph,
                                task: job.a.task,
                                nbytes: ran.map_or(0, |r| r.0),
                                micros: ran.map_or(0, |r| r.1),
                                // Its compute was released (cancelled, or its client gone).
                                skipped: ran.is_none(),
                            }),
                            Err(e) => erred(&job.a, e),
                        })
                        .collect();
                    if reports.send(done).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| Error::Io {
                path: "a task thread".into(),
                source,
            })?;
    }
    Ok(tx)
}

/// A key from the wire, or a placeholder where a malformed message lacks one.
pub(crate) fn key_of(k: Option<&crate::proto::Key>) -> TaskKey {
    k.map_or_else(|| TaskKey::new("?", 0), TaskKey::from)
}

/// The values of `a`'s inputs: from this worker, or fetched from the peers that hold them, all
/// at once (one Flight stream each). On failure, also the inputs that could not be fetched from
/// their holders (a lost peer, a value it no longer has), which the scheduler computes again.
async fn gather(
    a: &Assign,
    store: &Store,
    peers: &Peers,
) -> std::result::Result<Vec<Held>, (Error, Vec<u32>)> {
    let key = key_of(a.key.as_ref());
    let inputs = a.deps.iter().map(|d| {
        let key = &key;
        async move {
            if let Some(v) = store.get(a.graph, d.task, d.persisted) {
                return Ok(v);
            }
            if d.flight.is_empty() {
                let error = Error::Config {
                    message: format!(
                        "input {} of {key} is not on this worker",
                        key_of(d.key.as_ref())
                    ),
                };
                return Err((error, Some(d.task)));
            }
            let ticket = Ticket {
                graph: a.graph,
                task: d.task,
                persisted: d.persisted,
            };
            let fetched = match peers.client(&d.flight).await {
                Ok(mut client) => {
                    let dep = key_of(d.key.as_ref());
                    fetch(&mut client, &d.flight, ticket, &dep).await
                }
                Err(e) => Err(e),
            };
            match fetched {
                Ok((v, bytes)) => {
                    store
                        .received
                        .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                    Ok(Held::Value(v))
                }
                // A value that arrived but does not decode will not decode next time.
                Err(e @ Error::Runtime(_)) => Err((e, None)),
                Err(e) => {
                    peers.forget(&d.flight);
                    Err((e, Some(d.task)))
                }
            }
        }
    });
    let mut values = Vec::with_capacity(a.deps.len());
    let (mut failure, mut missing) = (None, Vec::new());
    for got in futures_util::future::join_all(inputs).await {
        match got {
            Ok(v) => values.push(v),
            Err((e, lost)) => {
                failure = failure.or(Some(e));
                missing.extend(lost);
            }
        }
    }
    match failure {
        None => Ok(values),
        Some(e) => Err((e, missing)),
    }
}

/// Copies persisted partition `r.id` from the peer at `r.flight` into this worker's store. The
/// peer may not have moved it into its own store yet (its `Keep` and this request travel on
/// different streams), so a copy not found there is asked for again, a few times.
async fn copy(r: &crate::proto::Replicate, store: &Store, peers: &Peers) -> Result<()> {
    let key = key_of(r.key.as_ref());
    let ticket = Ticket {
        persisted: r.id,
        ..Default::default()
    };
    let mut tries = 0;
    let value = loop {
        let fetched = match peers.client(&r.flight).await {
            Ok(mut client) => fetch(&mut client, &r.flight, ticket.clone(), &key)
                .await
                .map(|(v, _)| v),
            Err(e) => Err(e),
        };
        match fetched {
            Ok(v) => break v,
            Err(_) if tries < 10 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50 * tries)).await;
            }
            Err(e) => {
                peers.forget(&r.flight);
                return Err(e);
            }
        }
    };
    let memory = store.memory.clone();
    let held = tokio::task::spawn_blocking(move || memory.hold(&key, value))
        .await
        .map_err(|e| Error::Config {
            message: format!("keeping a copy: {e}"),
        })??;
    store.persisted.lock().insert(r.id, held);
    Ok(())
}

/// Runs one job on this thread: the kernel rebuilt by its operator, a panic caught as the
/// task's error, the value kept under the worker's memory limit. Returns the value's size and
/// how long the kernel ran, in microseconds.
/// Runs one task and keeps its value: its size and how long it ran, or `None` when its compute
/// was released before it started. A value whose compute was released while it ran is
/// dropped.
fn run(job: &Job, store: &Store) -> Result<Option<(u64, u64)>> {
    let a = &job.a;
    let live = || store.ops.lock().contains_key(&a.graph);
    if job.ops.is_some() && !live() {
        return Ok(None);
    }
    let key = key_of(a.key.as_ref());
    let ops = job.ops.as_ref().ok_or_else(|| Error::Config {
        message: format!("task {key} arrived before its graph's operations"),
    })?;
    let op = ops.get(a.op as usize).ok_or_else(|| Error::Config {
        message: format!("task {key} names operation {} of {}", a.op, ops.len()),
    })?;
    let deps: Vec<TaskKey> = a.deps.iter().map(|d| key_of(d.key.as_ref())).collect();
    let kernel = (operator(&op.name)?.build)(
        TaskContext {
            key: &key,
            deps: &deps,
        },
        &op.params,
    )?;
    let inputs = job
        .inputs
        .iter()
        .map(Held::get)
        .collect::<partita_runtime::Result<Vec<Value>>>()?;
    let started = std::time::Instant::now();
    let value = catch_panic(&key, || kernel(inputs))??;
    let micros = started.elapsed().as_micros() as u64;
    let held = store.memory.hold(&key, value)?;
    let nbytes = held.nbytes();
    // A release takes the values' lock, then removes the operations: checked under the same
    // lock, a released compute's value is never kept.
    let mut values = store.values.lock();
    if live() {
        values.insert((a.graph, a.task), held);
    }
    Ok(Some((nbytes, micros)))
}

/// The Flight clients of this worker's peers, one per address.
struct Peers {
    secret: Secret,
    clients: Mutex<FxHashMap<String, FlightServiceClient<Authed>>>,
}

impl Peers {
    /// Drops the client of a peer that failed, so the next fetch connects afresh.
    fn forget(&self, addr: &str) {
        self.clients.lock().remove(addr);
    }

    async fn client(&self, addr: &str) -> Result<FlightServiceClient<Authed>> {
        if let Some(c) = self.clients.lock().get(addr) {
            return Ok(c.clone());
        }
        let c = flight_client(addr, &self.secret).await?;
        self.clients.lock().insert(addr.to_string(), c.clone());
        Ok(c)
    }
}

enum Report {
    Done(Completed),
    Erred(Erred),
    Replicated(u64),
    ReplicateFailed(u64),
}

/// How often a worker tells the scheduler it is alive, with what it holds, when it has nothing
/// else to say.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Sends the scheduler a heartbeat (the worker's memory) every [`HEARTBEAT`], so that a silent
/// worker can be told from a busy one.
async fn heartbeat(tx: UnboundedSender<WorkerMessage>, store: Arc<Store>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let mut msg = WorkerMessage::default();
        store.gauges(&mut msg);
        if tx.send(msg).is_err() {
            return;
        }
    }
}

/// Sends reports to the scheduler in batches: what has finished by the time this task runs
/// again, after letting the others run once, goes in one message. (A timer would batch more,
/// but tokio's timers tick in milliseconds, which caps a worker at about a thousand batches a
/// second.)
async fn batch_reports(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<Report>>,
    tx: UnboundedSender<WorkerMessage>,
    store: Arc<Store>,
) {
    while let Some(first) = rx.recv().await {
        let mut msg = WorkerMessage::default();
        let mut add = |r: Report| match r {
            Report::Done(c) => msg.done.push(c),
            Report::Erred(e) => msg.erred.push(e),
            Report::Replicated(id) => msg.replicated.push(id),
            Report::ReplicateFailed(id) => msg.replicate_failed.push(id),
        };
        first.into_iter().for_each(&mut add);
        tokio::task::yield_now().await;
        while let Ok(r) = rx.try_recv() {
            r.into_iter().for_each(&mut add);
        }
        store.gauges(&mut msg);
        if tx.send(msg).is_err() {
            return;
        }
    }
}
