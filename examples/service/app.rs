//! The service behind `examples/service`: an HTTP API on axum and tokio that shares one partita
//! runtime between a streaming pipeline and batch jobs. `tests/service_http.rs` runs it too.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use partita::collections::{Pipeline, Stream, Window};
use partita::prelude::*;
use serde::{Deserialize, Serialize};

/// One posted event: a key, and its event time in milliseconds (arrival time if absent).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Event {
    pub(crate) key: String,
    pub(crate) ts: Option<i64>,
}

/// A key's count in the latest window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct KeyCount {
    pub(crate) key: String,
    pub(crate) count: u64,
}

/// The latest window that has fired.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct LatestWindow {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) top: Vec<KeyCount>,
}

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    events: tokio::sync::mpsc::Sender<Event>,
    latest: Arc<Mutex<HashMap<i64, HashMap<String, u64>>>>,
    pipeline: Arc<Mutex<Option<Pipeline<()>>>>,
    runtime: Runtime,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The pipeline: events → one-second tumbling event-time windows of counts per key.
pub(crate) fn start(runtime: Runtime) -> AppState {
    let (tx, rx) = tokio::sync::mpsc::channel(10_000);
    let latest: Arc<Mutex<HashMap<i64, HashMap<String, u64>>>> = Arc::default();
    let sink = latest.clone();
    let pipeline = Stream::from_tokio(rx)
        .map(|e: Event| Event {
            ts: Some(e.ts.unwrap_or_else(now_ms)),
            ..e
        })
        .with_timestamps(|e: &Event| e.ts.unwrap_or(0), 200)
        .key_by(|e| e.key.clone())
        .window(Window::tumbling(1000))
        .count()
        .for_each(move |w| {
            let mut windows = sink.lock();
            windows.entry(w.start).or_default().insert(w.key, w.value);
            // Keep the newest few windows only.
            while windows.len() > 4 {
                let oldest = *windows.keys().min().unwrap_or(&w.start);
                windows.remove(&oldest);
            }
        })
        .batch_size(256)
        .start();
    AppState {
        events: tx,
        latest,
        pipeline: Arc::new(Mutex::new(Some(pipeline))),
        runtime,
    }
}

/// The routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/events", post(post_events))
        .route("/windows/latest", get(latest_window))
        .route("/stats", get(stats))
        .route("/jobs/wordcount", post(wordcount))
        .with_state(state)
}

/// `POST /events`: JSON lines, one event each. Waits (asynchronously) while the pipeline is
/// full, so a fast client is slowed down rather than buffered without bound.
async fn post_events(State(state): State<AppState>, body: String) -> (StatusCode, String) {
    let mut accepted = 0;
    for (i, line) in body
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let event: Event = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "line {}: {e} ({accepted} events before it were accepted)",
                        i + 1
                    ),
                )
            }
        };
        if state.events.send(event).await.is_err() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the pipeline has stopped".into(),
            );
        }
        accepted += 1;
    }
    (StatusCode::ACCEPTED, format!("{accepted}"))
}

/// `GET /windows/latest`: the newest fired window's keys, most frequent first.
async fn latest_window(State(state): State<AppState>) -> Json<LatestWindow> {
    let windows = state.latest.lock();
    let Some((&start, counts)) = windows.iter().max_by_key(|(s, _)| **s) else {
        return Json(LatestWindow::default());
    };
    let mut top: Vec<KeyCount> = counts
        .iter()
        .map(|(k, &n)| KeyCount {
            key: k.clone(),
            count: n,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    top.truncate(10);
    Json(LatestWindow {
        start,
        end: start + 1000,
        top,
    })
}

/// `GET /stats`: the pipeline's metrics per stage.
async fn stats(State(state): State<AppState>) -> Json<serde_json::Value> {
    let metrics = state
        .pipeline
        .lock()
        .as_ref()
        .map(Pipeline::metrics)
        .unwrap_or_default();
    Json(serde_json::Value::Array(
        metrics
            .into_iter()
            .map(|m| {
                serde_json::json!({
                    "stage": m.name,
                    "records_in": m.records_in,
                    "records_out": m.records_out,
                    "errors": m.errors,
                    "late": m.late,
                    "queue_depth": m.queue_depth,
                    "watermark_lag_ms": m.watermark_lag,
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct WordcountJob {
    dir: String,
}

/// `POST /jobs/wordcount {"dir": ...}`: a word count over `dir/*.txt` as a Bag on the shared
/// runtime. The compute runs on partita's threads; this handler only awaits it.
async fn wordcount(
    State(state): State<AppState>,
    Json(job): Json<WordcountJob>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let bad = |e: partita::Error| (StatusCode::BAD_REQUEST, e.to_string());
    let lines = partita::read_text(format!("{}/*.txt", job.dir).as_str(), None).map_err(bad)?;
    let words = lines.flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let top = state
        .runtime
        .install(|| words.frequencies().topk(10, |(_, n)| *n).compute_async())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::json!({
        "top": top.iter().map(|(w, n)| serde_json::json!({"word": w, "count": n})).collect::<Vec<_>>(),
    })))
}

/// Stops taking events and drains the pipeline: every accepted event is counted.
pub(crate) fn shutdown(state: AppState) {
    let pipeline = state.pipeline.lock().take();
    drop(state);
    if let Some(p) = pipeline {
        if let Err(e) = p.stop() {
            eprintln!("the pipeline stopped with an error: {e}");
        }
    }
}
