//! The HTTP layer's extractors: `CurrentUser` and `MaybeUser` resolve the session (or, on
//! the JSON API and the image proxy, a personal API token) to a live, enabled user, and
//! `ClientIp` is the request's address as `quota::client_ip` resolves it. They read the
//! application state, so they sit above it, beside the routes and middleware. Request
//! fields are read by [`fields`], which checks every string in them.

mod fields;

pub use fields::{Form, FormOrJson, FormPairs, Json, Query};

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::User;
use crate::operations::accounts;
use crate::services::quota::ClientIp;
use crate::services::quota::client_ip;
use crate::web::auth::keys;
use crate::web::state::AppState;

/// A signed-in, enabled user. Anonymous requests get `AppError::LoginRequired`
/// (a redirect to `/login` for pages, 401 for JSON).
pub struct CurrentUser {
    pub user: User,
    /// The `sessions` row of this request.
    pub session_id: Option<i64>,
}

/// The signed-in user if there is one; never refuses the request.
pub struct MaybeUser(pub Option<CurrentUser>);

/// Left in the request's extensions once a session's user is known, for what runs after
/// the handler (the error pages greet the user by name; the session itself is gone by
/// then).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub username: String,
    pub is_admin: bool,
}

async fn resolve(req: HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    let session = req.get_session();
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState missing")))?;
    let Some(user_id) = session.get::<i64>(keys::USER_ID).ok().flatten() else {
        return bearer_user(&req, state).await;
    };
    match load_user(state, user_id).await? {
        Some(user) if !user.disabled => {
            actix_web::HttpMessage::extensions_mut(&req).insert(SignedIn {
                username: user.username.clone(),
                is_admin: user.is_admin(),
            });
            Ok(Some(CurrentUser {
                user,
                session_id: session.get::<i64>(keys::SESSION_ID).ok().flatten(),
            }))
        }
        _ => {
            session.purge();
            Ok(None)
        }
    }
}

/// The owner of the request's personal API token (`Authorization: Bearer atl_…`), if it
/// carries a valid one, is on the JSON API (`/api/`, `/v1/`) or the image proxy, and the
/// owner is enabled.
/// Pages never accept tokens: they are for scripts.
async fn bearer_user(req: &HttpRequest, state: &AppState) -> Result<Option<CurrentUser>, AppError> {
    Ok(token_owner(req, state).await?.map(|user| CurrentUser {
        user,
        session_id: None,
    }))
}

/// See [`bearer_user`]; also used by the image proxy. A token used outside its scope is a
/// 403 that says so.
pub async fn token_owner(req: &HttpRequest, state: &AppState) -> Result<Option<User>, AppError> {
    let path = req.path();
    if !(path.starts_with("/api/") || path.starts_with("/v1/") || path.starts_with("/media/")) {
        return Ok(None);
    }
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
    else {
        return Ok(None);
    };
    let from = IpNetwork::from(client_ip_of(req)?.0);
    let found = state
        .db
        .run(
            move |conn| match accounts::token_holder(conn, &token, from)? {
                Some(holder) => {
                    Ok::<_, AppError>(Some((holder, User::find(conn, holder.user_id)?)))
                }
                None => Ok(None),
            },
        )
        .await?;
    let Some((holder, user)) = found else {
        return Ok(None);
    };
    if !holder.scope.allows(path) {
        return Err(AppError::Forbidden(
            "This API token may only make and fetch pictures (it is \"images only\"); \
             make an \"API\" token on /account for the rest."
                .into(),
        ));
    }
    Ok(user.filter(|user| !user.disabled))
}

/// The user with `id`, from the cache when fresh.
pub async fn load_user(state: &AppState, id: i64) -> Result<Option<User>, AppError> {
    if let Some(user) = state.auth_cache.user(id) {
        return Ok(Some(user));
    }
    let user = state.db.run(move |conn| User::find(conn, id)).await?;
    if let Some(user) = &user {
        state.auth_cache.put_user(user.clone());
    }
    Ok(user)
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(req).await?.ok_or(AppError::LoginRequired) })
    }
}

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeUser(resolve(req).await?)) })
    }
}

impl AsRef<User> for CurrentUser {
    fn as_ref(&self) -> &User {
        &self.user
    }
}

impl FromRequest for ClientIp {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(client_ip_of(req))
    }
}

/// The site's absolute origin (`https://host`) for links that leave the site:
/// `ATELIER_PUBLIC_URL`, else what a trusted proxy says the request was addressed to, else
/// unknown (`Host` and `X-Forwarded-*` from anyone else could name any site).
pub fn public_origin(req: &HttpRequest) -> Option<String> {
    let state = req.app_data::<web::Data<AppState>>()?;
    if let Some(url) = &state.settings.public_url {
        return Some(url.clone());
    }
    let peer = req.peer_addr()?.ip();
    let trusted = state
        .settings
        .trusted_proxies
        .iter()
        .any(|net| net.contains(peer));
    trusted.then(|| {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    })
}

/// The client address of `req`, trusting forwarded headers only from trusted proxies.
pub fn client_ip_of(req: &HttpRequest) -> Result<ClientIp, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState missing")))?;
    // Unix-socket or test requests have no peer; treat them as loopback.
    let peer = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |addr| addr.ip());
    Ok(client_ip::of_request(
        peer,
        req.headers(),
        &state.settings.trusted_proxies,
    ))
}
