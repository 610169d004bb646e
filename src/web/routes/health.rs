//! Liveness and readiness probes, and `/metrics` for Prometheus (only with the
//! `ATELIER_METRICS_TOKEN` as a bearer token: it is not for the public site).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::RunQueryDsl;

use crate::base::error::AppError;
use crate::base::metrics::{self, ClusterFigures};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(prometheus));
}

/// The Prometheus exposition. Without a configured token, or with a wrong one, the page
/// does not exist (404), so the public site gives nothing away.
async fn prometheus(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let expected = state
        .settings
        .metrics_token
        .as_deref()
        .ok_or(AppError::NotFound)?;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    // Digests compare in time independent of where the tokens differ.
    if crate::domain::tokens::digest(presented) != crate::domain::tokens::digest(expected) {
        return Err(AppError::NotFound);
    }
    let cluster = state
        .db
        .run(|conn| {
            let queue = crate::db::models::job::queue_depth(conn)?;
            let (credits_charged, credits_refunded) =
                crate::services::quota::credits::charged_and_refunded(conn)?;
            Ok::<_, AppError>(ClusterFigures {
                queue,
                credits_charged,
                credits_refunded,
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics::render(&cluster)))
}

/// The process is up and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers a query.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state
        .db
        .run(|conn| diesel::sql_query("SELECT 1").execute(conn))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": "ok" })))
}
