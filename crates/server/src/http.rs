//! The admin HTTP port (`--admin-addr`), off the client port: for probes, scrapers and
//! people.
//! - `/health`: liveness. 200 while the node thread answers (within a second); it is the
//!   thread that decides, so a wedged one fails the probe though the process still runs.
//! - `/ready`: 200 when every group this node hosts has a leader this node hears (so a
//!   load balancer sends clients only where they will be served), else 503 naming the
//!   groups that do not.
//! - `/metrics`: Prometheus's text format (`metrics.rs`).
//! - `/status.json`: the cluster as this node sees it (`NINESDB STATUS`, `ctl status`).
//! - `/`: the dashboard (`dashboard.html`: plain HTML and JavaScript polling the two above).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::client::Shared;
use crate::cluster;

/// How long a probe waits for the node thread.
const NODE_PATIENCE: Duration = Duration::from_secs(1);

/// Serves the admin port until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/", get(dashboard))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/status.json", get(status))
        .with_state(shared);
    let _ = axum::serve(listener, app).await;
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

async fn node_status(shared: &Shared) -> Option<crate::driver::Status> {
    tokio::time::timeout(NODE_PATIENCE, crate::client::status(shared))
        .await
        .ok()
        .flatten()
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    match node_status(&shared).await {
        Some(_) => (StatusCode::OK, "ok\n").into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the node thread did not answer within 1 s\n",
        )
            .into_response(),
    }
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let Some(status) = node_status(&shared).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the node thread did not answer within 1 s\n",
        )
            .into_response();
    };
    let down_after = Duration::from_millis(shared.config.down_after_ms);
    let leaderless: Vec<String> = {
        let view = cluster::lock(&shared.view);
        status
            .groups
            .iter()
            .filter(|g| match g.leader {
                None => true,
                Some(node) => node != shared.config.id && view.is_down(node, down_after),
            })
            .map(|g| g.group.to_string())
            .collect()
    };
    if status.groups.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no group hosted here yet\n",
        )
            .into_response()
    } else if leaderless.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: no reachable leader for group(s) {}\n",
                leaderless.join(", ")
            ),
        )
            .into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let Some(status) = node_status(&shared).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the node thread did not answer within 1 s\n",
        )
            .into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&shared, &status),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::admin::status_json(&shared, false).await.to_string(),
    )
        .into_response()
}
