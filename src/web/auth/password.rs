//! bcrypt hashing off the async executor, a few at a time.
//!
//! bcrypt at cost 12 takes a core for ~250 ms. Run unbounded on the blocking pool, a login
//! flood takes every core and other pages' p99 climbs from ms to hundreds of ms; a
//! semaphore (default one permit) keeps the rest of the site responsive and makes a flood
//! queue instead.

use std::sync::Arc;

use actix_web::web;
use tokio::sync::Semaphore;

use crate::base::error::AppError;

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so both paths take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Computes the dummy hash, so call it where blocking briefly is fine (startup).
    pub fn new(cost: u32, concurrency: usize) -> anyhow::Result<Self> {
        let dummy_hash = bcrypt::hash("atelier-dummy-password", cost)?;
        Ok(PasswordHasher {
            cost,
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let cost = self.cost;
        self.with_permit(move || bcrypt::hash(password, cost).map_err(AppError::internal))
            .await
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no user,
    /// and answers `false` in that case whatever the password. bcrypt reads only the first
    /// 72 bytes, so a longer password would match on its prefix: it is refused like a wrong
    /// one, after the same amount of work.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        let user_exists = hash.is_some();
        let too_long = password.len() > crate::domain::NewPassword::MAX_BYTES;
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .with_permit(move || Ok(bcrypt::verify(password, &hash).unwrap_or(false)))
            .await?;
        Ok(matches && user_exists && !too_long)
    }

    async fn with_permit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        web::block(work).await.map_err(AppError::internal)?
    }
}
