//! `AppState`: what request handlers share (settings, the pool, the library, caches, the
//! quota rules). Built by `startup`; imported by the HTTP layer (routes, extractors,
//! middleware). It imports only the layers below it, never `routes` or `startup`.

use std::sync::Arc;

use crate::auth::{AuthCache, PasswordHasher};
use crate::config::Settings;
use crate::db::Db;
use crate::generate::worker::JobSignal;
use crate::library::Library;
use crate::media_cache::MediaCache;
use crate::quota::charge::Rules;
use crate::quota::limits::RecentRefusals;

/// What handlers share. Cheap to clone; wrapped in `web::Data`.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub hasher: PasswordHasher,
    pub library: Library,
    pub auth_cache: AuthCache,
    pub media_cache: MediaCache,
    pub jobs: Arc<JobSignal>,
    pub rules: Rules,
    pub recent_refusals: RecentRefusals,
    pub exports: crate::privacy::ExportsInProgress,
}
