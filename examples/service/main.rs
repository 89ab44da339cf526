//! A service that links partita in: an HTTP API on axum and tokio, a streaming pipeline of
//! per-key counts in one-second windows, and batch word counts on the same runtime.
//!
//! ```text
//! cargo run --release --example service -- 127.0.0.1:3000
//! curl -X POST --data-binary $'{"key":"a"}\n{"key":"b"}' localhost:3000/events
//! curl localhost:3000/windows/latest
//! curl localhost:3000/stats
//! curl -X POST -H 'content-type: application/json' -d '{"dir":"/tmp/text"}' localhost:3000/jobs/wordcount
//! ```
//!
//! Ctrl-C stops the server and drains the pipeline.

mod app;

use partita::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let runtime = Runtime::builder().build()?;
    let state = app::start(runtime);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app::router(state.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    eprintln!("draining the pipeline");
    tokio::task::spawn_blocking(move || app::shutdown(state)).await?;
    Ok(())
}
