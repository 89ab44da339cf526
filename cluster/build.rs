//! Generates the scheduler's gRPC service from its Rust description: no `.proto` file and no
//! `protoc`; the messages are the prost structs of `src/proto.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn method(
    name: &str,
    route: &str,
    input: &str,
    output: &str,
) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::proto::{input}"))
        .output_type(format!("crate::proto::{output}"))
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    let scheduler = Service::builder()
        .name("Scheduler")
        .package("partita.cluster.v1")
        .comment("The scheduler's control plane: workers' streams and clients' computes.")
        .method(
            method("work", "Work", "WorkerMessage", "SchedulerMessage")
                .comment("A worker's one long-lived stream: batched assignments one way, completions and heartbeats the other.")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .method(
            method("compute", "Compute", "ComputeRequest", "ComputeEvent")
                .comment("Computes a shipped graph; the stream ends with where its outputs are, or its failure.")
                .server_streaming()
                .build(),
        )
        .method(
            method("release", "Release", "ReleaseRequest", "ReleaseReply")
                .comment("Forgets a compute's outputs once the client has fetched them.")
                .build(),
        )
        .method(
            method("session", "Session", "SessionRequest", "SessionEvent")
                .comment("A client's session: open while the client lives; what it persisted is forgotten when it ends.")
                .server_streaming()
                .build(),
        )
        .method(
            method("forget", "Forget", "ForgetRequest", "ReleaseReply")
                .comment("Forgets persisted partitions on the workers that hold them.")
                .build(),
        )
        .method(
            method("info", "Info", "InfoRequest", "InfoReply")
                .comment("The cluster's build and workers.")
                .build(),
        )
        .build();
    Builder::new().compile(&[scheduler]);
}
