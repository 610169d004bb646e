//! `AppState`: what request handlers share (settings, the pool, the library, caches, the
//! quota rules). Built by `startup`; imported by the HTTP layer (routes, extractors,
//! middleware). It imports only the layers below it, never `routes` or `startup`.

use std::sync::Arc;

use crate::base::config::Settings;
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::User;
use crate::services::generate::worker::JobSignal;
use crate::services::library::Library;
use crate::services::library::media_cache::MediaCache;
use crate::services::library::summary_cache::SummaryCache;
use crate::services::mail::Mailer;
use crate::services::quota::ClientIp;
use crate::services::quota::charge::{self, Rules, Usage};
use crate::services::quota::limits::RecentRefusals;
use crate::services::tagging::Tagger;
use crate::web::auth::{AuthCache, PasswordHasher};

/// What handlers share. Cheap to clone; wrapped in `web::Data`.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub hasher: PasswordHasher,
    pub library: Library,
    pub auth_cache: AuthCache,
    pub media_cache: MediaCache,
    /// Each account's folders and tags, checked against its library version.
    pub summaries: SummaryCache,
    pub jobs: Arc<JobSignal>,
    pub rules: Rules,
    pub recent_refusals: RecentRefusals,
    pub exports: crate::services::library::privacy::ExportsInProgress,
    /// The image providers on offer, the default first (`ATELIER_GENERATOR`).
    pub provider_names: Vec<&'static str>,
    /// The provider that makes videos, or why this server makes none.
    pub video: Result<&'static str, String>,
    /// Who suggests tags (`ATELIER_TAGGER`).
    pub tagger: Tagger,
    /// Mail, when it is configured.
    pub mailer: Option<Mailer>,
}

impl AppState {
    /// What this visitor may still do (credits, free images, anonymous uses), for the
    /// dashboard, the generate form and `GET /api/usage`.
    pub async fn usage_of(&self, user: Option<&User>, ip: ClientIp) -> Result<Usage, AppError> {
        let rules = self.rules.clone();
        let user = user.cloned();
        self.db
            .run(move |conn| charge::usage(conn, &rules, user.as_ref(), ip.0.into(), true))
            .await
    }
}
