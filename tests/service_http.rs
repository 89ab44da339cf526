//! The service example on loopback: post events, read the windows and stats back over HTTP,
//! run a batch word count on the shared runtime, and drain on shutdown.

#[path = "../examples/service/app.rs"]
#[allow(dead_code)]
mod app;

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use partita::prelude::*;

/// A minimal HTTP/1.1 client: one request per connection.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn events_in_windows_out_over_http() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::builder().threads(2).build().unwrap();
    let state = app::start(runtime);
    let listener = tokio_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio_rt.spawn(
        axum::serve(listener, app::router(state.clone()))
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );

    // Window [1000, 2000): a ×3, b ×1. Then an event at 5000 moves the watermark past it.
    let events = [
        r#"{"key":"a","ts":1000}"#,
        r#"{"key":"b","ts":1100}"#,
        r#"{"key":"a","ts":1500}"#,
        r#"{"key":"a","ts":1999}"#,
        r#"{"key":"c","ts":5000}"#,
    ]
    .join("\n");
    let (status, body) = request(addr, "POST", "/events", &events);
    assert_eq!((status, body.as_str()), (202, "5"));

    let deadline = Instant::now() + Duration::from_secs(10);
    let latest: app::LatestWindow = loop {
        let (status, body) = request(addr, "GET", "/windows/latest", "");
        assert_eq!(status, 200);
        let w: app::LatestWindow = serde_json::from_str(&body).unwrap();
        if w.start == 1000 {
            break w;
        }
        assert!(Instant::now() < deadline, "the window never fired: {body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(latest.end, 2000);
    assert_eq!(
        latest.top,
        vec![
            app::KeyCount {
                key: "a".into(),
                count: 3
            },
            app::KeyCount {
                key: "b".into(),
                count: 1
            },
        ]
    );

    let (status, body) = request(addr, "POST", "/events", "{\"key\": 1}\n");
    assert_eq!(status, 400);
    assert!(body.starts_with("line 1:"), "{body}");

    let (status, stats) = request(addr, "GET", "/stats", "");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let source = &stats.as_array().unwrap()[0];
    assert_eq!(source["stage"], "async");
    assert_eq!(source["records_out"], 5);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "x y x\nz x\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "y x\n").unwrap();
    let job = format!("{{\"dir\":\"{}\"}}", dir.path().display());
    let (status, body) = request(addr, "POST", "/jobs/wordcount", &job);
    assert_eq!(status, 200, "{body}");
    let top: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(top["top"][0]["word"], "x");
    assert_eq!(top["top"][0]["count"], 4);
    assert_eq!(top["top"][1]["word"], "y");
    assert_eq!(top["top"][1]["count"], 2);

    stop_tx.send(()).unwrap();
    tokio_rt.block_on(server).unwrap().unwrap();
    app::shutdown(state);
}
