//! `/healthz` (the process answers) and `/readyz` (its store and bus do too).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::{AppState, READY_TIMEOUT};
use crate::bus::BusHealth;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Prometheus text exposition.
async fn metrics(
    State(state): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.hub.gauges()),
    )
}

async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// 200 when every dependency answers, 503 naming the one that does not.
async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Value>) {
    let store = state.services.store_health(READY_TIMEOUT).await;
    let bus = state.services.bus_health();
    let ready = store.up && bus != BusHealth::Down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "store": { "backend": store.backend, "status": if store.up { "up" } else { "down" } },
        "bus": bus,
    });
    (status, axum::Json(body))
}
