//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
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
