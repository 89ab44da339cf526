//! The client side: what a runtime built with `connect` or `local_cluster` hands its graphs to.
//!
//! A compute ships its graph to the scheduler (`encode_graph`; a task that cannot leave the
//! process fails it before anything is sent), waits for the scheduler to say where the outputs
//! are, fetches each straight from the worker that holds it over Flight, and releases the
//! compute. A local cluster also owns its scheduler and its worker processes, and kills the
//! workers when it is dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use partita_runtime::{
    encode_graph, BuildId, ClusterClient, ClusterSpec, ClusterWorker, ComputeDone, ComputeEvents,
    Graph, PersistDone, PersistedPartition, TaskKey, Value,
};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::proto::{
    ComputeRequest, ForgetRequest, InfoReply, InfoRequest, ReleaseRequest, SchedulerClient,
};
use crate::scheduler::serve_scheduler;
use crate::secret::{AddSecret, Secret};
use crate::worker::{endpoint, fetch, flight_client, key_of, Authed, MAX_MESSAGE};

/// How long a client waits, after an output could not be fetched, for the scheduler to say
/// where it was computed again: long enough for a silent worker to be counted lost.
const REFETCH_WAIT: Duration = Duration::from_secs(15);

/// The environment variable that puts an executable in worker mode: the scheduler's address.
pub const WORKER_OF: &str = "PARTITA_WORKER_OF";

/// How a compute on the cluster ended.
enum Finished {
    /// The outputs' values, fetched.
    Values(Vec<Value>),
    /// Where the outputs are kept, as persisted partitions.
    Persisted(Vec<crate::proto::Location>),
}

/// What the futures of a client share.
struct Shared {
    address: String,
    secret: Secret,
    /// This client's session on the scheduler.
    session: u64,
    scheduler: SchedulerClient<Authed>,
    flights:
        Mutex<FxHashMap<String, arrow_flight::flight_service_client::FlightServiceClient<Authed>>>,
}

/// A connection to a cluster's scheduler: the runtime's [`ClusterClient`].
pub struct Client {
    shared: Arc<Shared>,
    io: Option<tokio::runtime::Runtime>,
    local: Option<LocalCluster>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.shared.address)
            .field("local", &self.local.is_some())
            .finish()
    }
}

/// A scheduler and worker processes of this executable, owned by a client. Like Dask's nanny,
/// it starts a worker again when its process dies, so a killed worker rejoins.
struct LocalCluster {
    workers: Arc<Mutex<Vec<LocalWorker>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    nanny: Option<std::thread::JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

/// One worker process of a local cluster, and how to start it again.
struct LocalWorker {
    child: Child,
    command: Command,
    started: Instant,
}

impl LocalWorker {
    fn start(mut command: Command) -> Result<LocalWorker> {
        let child = command.spawn().map_err(|source| Error::Io {
            path: format!("{:?}", command.get_program()),
            source,
        })?;
        Ok(LocalWorker {
            child,
            command,
            started: Instant::now(),
        })
    }
}

impl LocalCluster {
    /// Watches the workers every 50 ms and starts again each one that has exited, waiting a
    /// second first if it lived less than one (so a worker that cannot start does not spin).
    fn watch(&mut self) {
        let (workers, stopping) = (self.workers.clone(), self.stopping.clone());
        let nanny = std::thread::Builder::new()
            .name("partita-nanny".into())
            .spawn(move || {
                use std::sync::atomic::Ordering;
                while !stopping.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(50));
                    let mut workers = workers.lock();
                    for (i, w) in workers.iter_mut().enumerate() {
                        if stopping.load(Ordering::Acquire) {
                            return;
                        }
                        let Ok(Some(status)) = w.child.try_wait() else {
                            continue;
                        };
                        if w.started.elapsed() < Duration::from_secs(1) {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                        tracing::warn!(worker = i, %status, "local worker exited; starting it again");
                        match w.command.spawn() {
                            Ok(child) => {
                                w.child = child;
                                w.started = Instant::now();
                            }
                            Err(e) => tracing::error!(worker = i, "cannot start worker: {e}"),
                        }
                    }
                }
            });
        self.nanny = nanny.ok();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(n) = self.nanny.take() {
            let _ = n.join();
        }
        let mut workers = self.workers.lock();
        for w in workers.iter_mut() {
            let _ = w.child.kill();
        }
        for w in workers.iter_mut() {
            let _ = w.child.wait();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Workers first, then the scheduler they talk to, then the IO threads.
        drop(self.local.take());
        if let Some(io) = self.io.take() {
            io.shutdown_background();
        }
    }
}

fn io_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("partita-cluster-io")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "the cluster client's IO threads".into(),
            source,
        })
}

impl Client {
    /// Connects to the scheduler at `address` with `secret`, and checks that it accepts this
    /// client and runs this executable's build.
    ///
    /// # Errors
    /// The scheduler cannot be reached, refuses the secret, or runs another build.
    pub fn connect(address: &str, secret: Secret) -> Result<Client> {
        let io = io_runtime()?;
        let shared = io.block_on(connect_shared(address, secret))?;
        let client = Client {
            shared: Arc::new(shared),
            io: Some(io),
            local: None,
        };
        let info = client.info()?;
        check_build(address, &info)?;
        Ok(client)
    }

    /// Starts a scheduler on loopback and `n` worker processes of the current executable, and
    /// connects to them; returns once every worker has joined.
    ///
    /// # Errors
    /// A worker cannot be started or exits before it joins (its `main` must start with
    /// `partita::worker_main()`), or does not join within a minute.
    pub fn local(n: usize) -> Result<Client> {
        Client::local_with(n, None)
    }

    /// [`local`](Self::local), with each worker's memory limit: `memory_limit`, or by default
    /// its share of 80% of the machine's memory.
    ///
    /// # Errors
    /// As [`local`](Self::local).
    pub fn local_with(n: usize, memory_limit: Option<u64>) -> Result<Client> {
        let secret = Secret::random()?;
        let io = io_runtime()?;
        let listener = io
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .map_err(|source| Error::Io {
                path: "127.0.0.1".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            path: "127.0.0.1".into(),
            source,
        })?;
        let (stop, stopped) = oneshot::channel();
        io.spawn(serve_scheduler(
            listener,
            secret.clone(),
            crate::SchedulerOptions::from_env()?,
            async {
                let _ = stopped.await;
            },
        ));
        let address = format!("http://{addr}");
        let exe = std::env::current_exe().map_err(|source| Error::Io {
            path: "the current executable".into(),
            source,
        })?;
        let threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) / n).max(1);
        // The workers share the machine: by default each gets its part of the default limit.
        let memory =
            memory_limit.unwrap_or(partita_runtime::default_memory_limit() / n.max(1) as u64);
        let local = LocalCluster {
            workers: Arc::new(Mutex::new(Vec::with_capacity(n))),
            stopping: Arc::default(),
            nanny: None,
            stop: Some(stop),
        };
        for i in 0..n {
            let mut command = Command::new(&exe);
            command
                .env(WORKER_OF, &address)
                .env("PARTITA_SECRET", secret_text(&secret))
                .env_remove("PARTITA_SECRET_FILE")
                .env("PARTITA_WORKER_NAME", format!("local-{i}"))
                .env("PARTITA_WORKER_THREADS", threads.to_string())
                .env("PARTITA_WORKER_MEMORY", memory.to_string())
                .stdin(Stdio::null());
            local.workers.lock().push(LocalWorker::start(command)?);
        }
        let shared = io.block_on(connect_shared(&address, secret))?;
        let mut client = Client {
            shared: Arc::new(shared),
            io: Some(io),
            local: Some(local),
        };
        let started = Instant::now();
        loop {
            let info = client.info()?;
            if info.workers.len() >= n {
                break;
            }
            if let Some(local) = &mut client.local {
                for (i, w) in local.workers.lock().iter_mut().enumerate() {
                    if let Ok(Some(status)) = w.child.try_wait() {
                        return Err(Error::Config {
                            message: format!(
                                "local worker {i} exited with {status} before it joined; does \
                                 this executable's main start with partita::worker_main()?"
                            ),
                        });
                    }
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(Error::Config {
                    message: format!(
                        "{} of {n} local workers joined within a minute",
                        info.workers.len()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(local) = &mut client.local {
            local.watch();
        }
        Ok(client)
    }

    fn io(&self) -> &tokio::runtime::Runtime {
        self.io
            .as_ref()
            .expect("the IO threads live as long as the client")
    }

    fn info(&self) -> Result<InfoReply> {
        let shared = self.shared.clone();
        let info = self.io().block_on(async move {
            let mut s = shared.scheduler.clone();
            s.info(InfoRequest {})
                .await
                .map(tonic::Response::into_inner)
                .map_err(|e| Error::status(format!("the scheduler at {}", shared.address), e))
        })?;
        Ok(info)
    }
}

/// The secret's text, for a child's environment.
fn secret_text(secret: &Secret) -> String {
    secret.expose().to_string()
}

fn check_build(address: &str, info: &InfoReply) -> Result<()> {
    if info.build.is_empty() {
        return Ok(());
    }
    let ours = BuildId::current()?;
    if info.build != ours.0 {
        let mut theirs = [0_u8; 16];
        if info.build.len() == 16 {
            theirs.copy_from_slice(&info.build);
        }
        return Err(Error::Runtime(partita_runtime::Error::BuildMismatch {
            ours: ours.to_string(),
            theirs: format!("{} (the cluster at {address})", BuildId(theirs)),
        }));
    }
    Ok(())
}

async fn connect_shared(address: &str, secret: Secret) -> Result<Shared> {
    let channel = endpoint(address)?
        .connect()
        .await
        .map_err(|source| Error::Transport {
            what: format!("the scheduler at {address}"),
            source,
        })?;
    let mut scheduler = SchedulerClient::with_interceptor(channel, AddSecret(secret.clone()))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    // The session lives as long as this stream: when the client goes, so does what it
    // persisted.
    let what = || format!("opening a session with the scheduler at {address}");
    let mut stream = scheduler
        .session(crate::proto::SessionRequest {})
        .await
        .map_err(|e| Error::status(what(), e))?
        .into_inner();
    let session = stream
        .message()
        .await
        .map_err(|e| Error::status(what(), e))?
        .map(|e| e.session)
        .ok_or_else(|| Error::Config {
            message: format!("{}: no session", what()),
        })?;
    tokio::spawn(async move { while let Ok(Some(_)) = stream.message().await {} });
    Ok(Shared {
        address: address.to_string(),
        secret,
        session,
        scheduler,
        flights: Mutex::new(FxHashMap::default()),
    })
}

impl Shared {
    /// Runs a shipped graph on the cluster: fetches its outputs, or with `replicas > 0` keeps
    /// them on the workers and says where.
    async fn compute(
        &self,
        bytes: Vec<u8>,
        replicas: u32,
        outputs: Vec<TaskKey>,
        events: &ComputeEvents,
    ) -> Result<Finished> {
        let what = || format!("the scheduler at {}", self.address);
        let mut s = self.scheduler.clone();
        let mut stream = s
            .compute(ComputeRequest {
                graph: bytes,
                replicas,
                session: self.session,
                task_events: events.wanted(),
            })
            .await
            .map_err(|e| Error::status(what(), e))?
            .into_inner();
        let mut graph = None;
        let mut values: Vec<Option<Value>> = outputs.iter().map(|_| None).collect();
        let mut lost_fetch: Option<Error> = None;
        let mut tries = 0;
        let result = loop {
            // After a failed fetch, the scheduler recomputes an output lost with its worker and
            // says where it is now; it is given the time to notice a silent worker.
            let next = self.next_done(&mut stream, &mut graph, events, outputs.len());
            let locations = match lost_fetch.take() {
                None => next.await,
                Some(e) => match tokio::time::timeout(REFETCH_WAIT, next).await {
                    Ok(l) => l,
                    Err(_) => Err(e),
                },
            };
            let locations = match locations {
                Ok(l) => l,
                Err(e) => break Err(e),
            };
            if replicas > 0 {
                break Ok(Finished::Persisted(locations));
            }
            let graph = graph.unwrap_or_default();
            match self
                .fetch_outputs(graph, &locations, &outputs, &mut values)
                .await
            {
                None => break Ok(Finished::Values(values.into_iter().flatten().collect())),
                // A value that arrived but does not decode will not decode next time.
                Some(e @ Error::Runtime(_)) => break Err(e),
                Some(e) if tries >= 3 => break Err(e),
                Some(e) => {
                    tries += 1;
                    lost_fetch = Some(e);
                }
            }
        };
        if let Some(graph) = graph {
            let _ = s.release(ReleaseRequest { graph }).await;
        }
        result
    }

    /// Reads compute events up to the next that says where the outputs are, passing on what
    /// happened on the way.
    async fn next_done(
        &self,
        stream: &mut tonic::Streaming<crate::proto::ComputeEvent>,
        graph: &mut Option<u64>,
        events: &ComputeEvents,
        n: usize,
    ) -> Result<Vec<crate::proto::Location>> {
        let what = || format!("the scheduler at {}", self.address);
        loop {
            let Some(event) = stream.message().await.map_err(|e| {
                let what = format!(
                    "{} went away in the middle of the compute (its workers exit with it)",
                    what()
                );
                Error::status(what, e)
            })?
            else {
                return Err(Error::Config {
                    message: format!("{} ended a compute without its result", what()),
                });
            };
            if let Some(error) = event.error {
                return Err(Error::Runtime(error.into_error()));
            }
            if graph.is_none() {
                events.started(event.total as usize);
            }
            graph.get_or_insert(event.graph);
            for worker in &event.lost {
                events.worker_lost(worker);
            }
            for key in &event.recomputed {
                events.recomputed(TaskKey::from(key));
            }
            for t in &event.tasks {
                let key = key_of(t.key.as_ref());
                let duration = Duration::from_micros(t.micros);
                events.task_finished(key, t.worker as usize, duration);
            }
            if event.done {
                if event.outputs.len() != n {
                    return Err(Error::Config {
                        message: format!(
                            "{} located {} outputs of {n}",
                            what(),
                            event.outputs.len(),
                        ),
                    });
                }
                return Ok(event.outputs);
            }
        }
    }

    /// Fetches, in parallel, each output of compute `graph` not yet in `values` from where
    /// `locations` says it is. Returns the first failure.
    async fn fetch_outputs(
        &self,
        graph: u64,
        locations: &[crate::proto::Location],
        outputs: &[TaskKey],
        values: &mut [Option<Value>],
    ) -> Option<Error> {
        let mut fetches = Vec::with_capacity(locations.len());
        for (i, (loc, key)) in locations.iter().zip(outputs).enumerate() {
            if values[i].is_some() {
                continue;
            }
            let mut client = match self.flight(&loc.flight).await {
                Ok(c) => c,
                Err(e) => return Some(e),
            };
            let ticket = crate::proto::Ticket {
                graph,
                task: loc.task,
                persisted: loc.persisted,
            };
            let (flight, key) = (loc.flight.clone(), key.clone());
            fetches.push((
                i,
                tokio::spawn(async move {
                    fetch(&mut client, &flight, ticket, &key)
                        .await
                        .map(|(v, _)| v)
                }),
            ));
        }
        let mut failure = None;
        for (i, f) in fetches {
            match f.await {
                Ok(Ok(v)) => values[i] = Some(v),
                Ok(Err(e)) => {
                    if !matches!(e, Error::Runtime(_)) {
                        self.flights.lock().remove(&locations[i].flight);
                    }
                    failure = failure.or(Some(e));
                }
                Err(e) => {
                    failure = failure.or(Some(Error::Config {
                        message: format!("a fetch failed: {e}"),
                    }))
                }
            }
        }
        failure
    }

    async fn flight(
        &self,
        addr: &str,
    ) -> Result<arrow_flight::flight_service_client::FlightServiceClient<Authed>> {
        if let Some(c) = self.flights.lock().get(addr) {
            return Ok(c.clone());
        }
        let c = flight_client(addr, &self.secret).await?;
        self.flights.lock().insert(addr.to_string(), c.clone());
        Ok(c)
    }
}

impl Client {
    /// Ships `outputs` of `graph` to the scheduler (kept as persisted partitions when
    /// `replicas > 0`) and calls `finish` with how it ended and the outputs, from the IO
    /// threads.
    fn ship(
        &self,
        graph: &Graph,
        outputs: &[TaskKey],
        replicas: u32,
        events: ComputeEvents,
        finish: impl FnOnce(partita_runtime::Result<Finished>, Vec<TaskKey>) + Send + 'static,
    ) {
        let bytes = match encode_graph(graph, outputs) {
            Ok(b) => b,
            Err(e) => return finish(Err(e), outputs.to_vec()),
        };
        let shared = self.shared.clone();
        let outputs = outputs.to_vec();
        self.io().spawn(async move {
            let ended = events.ended();
            // A compute cancelled on the client's side is dropped here, closing its stream:
            // the scheduler then stops scheduling it and releases its values.
            let result = tokio::select! {
                r = shared.compute(bytes, replicas, outputs.clone(), &events) => r,
                () = ended => Err(Error::Runtime(partita_runtime::Error::Cancelled {
                    key: TaskKey::new("compute", 0),
                })),
            };
            events.finished();
            finish(result.map_err(Error::into_runtime), outputs);
        });
    }
}

impl ClusterClient for Client {
    fn compute(
        &self,
        graph: &Graph,
        outputs: &[TaskKey],
        events: ComputeEvents,
        done: ComputeDone,
    ) {
        self.ship(graph, outputs, 0, events, move |result, _| {
            done(match result {
                Ok(Finished::Values(v)) => Ok(v),
                Ok(Finished::Persisted(_)) => Err(unexpected("persisted a compute")),
                Err(e) => Err(e),
            })
        });
    }

    fn persist(
        &self,
        graph: &Graph,
        outputs: &[TaskKey],
        replicas: usize,
        events: ComputeEvents,
        done: PersistDone,
    ) {
        let replicas = u32::try_from(replicas.max(1)).unwrap_or(u32::MAX);
        self.ship(graph, outputs, replicas, events, move |result, outputs| {
            done(match result {
                Ok(Finished::Persisted(locations)) => Ok(locations
                    .into_iter()
                    .zip(outputs)
                    .map(|(l, key)| {
                        let replicas = replicas as usize;
                        PersistedPartition::new(key, l.persisted, l.nbytes, Vec::new(), replicas)
                    })
                    .collect()),
                Ok(Finished::Values(_)) => Err(unexpected("computed a persist")),
                Err(e) => Err(e),
            })
        });
    }

    fn read_persisted(&self, id: u64, key: &TaskKey) -> partita_runtime::Result<Value> {
        let info = self.info().map_err(Error::into_runtime)?;
        let place = info
            .persisted
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| partita_runtime::Error::Cluster {
                message: format!("persisted partition {key} is no longer on the cluster"),
            })?;
        let shared = self.shared.clone();
        let key = key.clone();
        self.io()
            .block_on(async move {
                let mut failure = None;
                for flight in &place.flights {
                    let ticket = crate::proto::Ticket {
                        persisted: id,
                        ..Default::default()
                    };
                    let fetched = match shared.flight(flight).await {
                        Ok(mut client) => fetch(&mut client, flight, ticket, &key)
                            .await
                            .map(|(v, _)| v),
                        Err(e) => Err(e),
                    };
                    match fetched {
                        Ok(v) => return Ok(v),
                        Err(e) => failure = Some(e),
                    }
                }
                Err(failure.unwrap_or_else(|| Error::Config {
                    message: format!("every copy of persisted partition {key} was lost"),
                }))
            })
            .map_err(Error::into_runtime)
    }

    fn forget_persisted(&self, ids: &[u64]) {
        let (shared, ids) = (self.shared.clone(), ids.to_vec());
        self.io().spawn(async move {
            let mut s = shared.scheduler.clone();
            let session = shared.session;
            let _ = s.forget(ForgetRequest { ids, session }).await;
        });
    }

    fn persisted(&self) -> Vec<PersistedPartition> {
        self.info().map_or_else(
            |_| Vec::new(),
            |i| {
                i.persisted
                    .into_iter()
                    .map(|p| {
                        let key = key_of(p.key.as_ref());
                        PersistedPartition::new(key, p.id, p.nbytes, p.holders, p.replicas as usize)
                    })
                    .collect()
            },
        )
    }

    fn address(&self) -> String {
        self.shared.address.clone()
    }

    fn workers(&self) -> Vec<ClusterWorker> {
        self.info().map_or_else(
            |_| Vec::new(),
            |i| {
                i.workers
                    .into_iter()
                    .map(|w| {
                        ClusterWorker::new(w.name, w.flight, w.processing, w.tasks_done, w.pid)
                            .with_memory(w.memory, w.spilled)
                            .with_held(w.held)
                            .with_received(w.bytes_received)
                    })
                    .collect()
            },
        )
    }
}

fn unexpected(what: &str) -> partita_runtime::Error {
    partita_runtime::Error::Cluster {
        message: format!("the scheduler {what}"),
    }
}

/// The runtime's way to a cluster: connects to `spec`'s scheduler, or starts a local cluster.
pub(crate) fn connect(spec: &ClusterSpec) -> partita_runtime::Result<Arc<dyn ClusterClient>> {
    let client = match spec {
        ClusterSpec::Connect(addr) => {
            Secret::from_env().and_then(|secret| Client::connect(addr, secret))
        }
        ClusterSpec::Local {
            workers,
            memory_limit,
        } => Client::local_with(*workers, *memory_limit),
        other => Err(Error::Config {
            message: format!("this build cannot reach a cluster of {other:?}"),
        }),
    };
    client
        .map(|c| Arc::new(c) as Arc<dyn ClusterClient>)
        .map_err(Error::into_runtime)
}
