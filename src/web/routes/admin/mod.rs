//! The admin area under `/admin`: the overview, the IP gallery and case files with their
//! actions, users, limits and the audit log.
//!
//! Access is checked twice: a middleware on the whole scope answers 404 to anyone who is
//! not a signed-in admin before any handler or body extractor runs (so the area does not
//! even confirm it exists), and every handler takes an [`AdminUser`], which also names the
//! actor for the audit log.

mod audit_log;
mod invites;
mod ips;
mod overview;
mod users;

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, HttpRequest, web};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::audit::Actor;
use crate::web::extract::client_ip_of;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(require_admin))
            .configure(overview::configure)
            .configure(ips::configure)
            .configure(users::configure)
            .configure(invites::configure)
            .configure(audit_log::configure)
            .default_service(web::to(|| async { Err::<String, _>(AppError::NotFound) })),
    );
}

/// Answers 404 to everyone but signed-in admins (as a response, so the error page around
/// it still knows who is signed in).
async fn require_admin(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let user = req.extract::<MaybeUser>().await?;
    if !user.0.is_some_and(|current| current.user.is_admin()) {
        return Ok(req.error_response(AppError::NotFound));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// A signed-in admin, and where they act from (for the audit log).
pub struct AdminUser {
    pub current: CurrentUser,
    pub ip: IpNetwork,
}

impl AdminUser {
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.current.user.id,
            name: self.current.user.username.clone(),
            ip: self.ip,
        }
    }
}

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = MaybeUser::from_request(req, payload);
        let ip = client_ip_of(req);
        let must_set_up_2fa = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.settings.admin_require_2fa);
        Box::pin(async move {
            match user.await?.0 {
                Some(current) if current.user.is_admin() => {
                    if must_set_up_2fa && current.user.totp_enabled_at.is_none() {
                        return Err(AppError::SecondFactorRequired);
                    }
                    Ok(AdminUser {
                        current,
                        ip: IpNetwork::from(ip?.0),
                    })
                }
                _ => Err(AppError::NotFound),
            }
        })
    }
}

/// Records an admin action in the audit log.
pub async fn record(
    state: &AppState,
    admin: &AdminUser,
    action: &'static str,
    target: String,
    detail: String,
) -> Result<(), AppError> {
    let actor = admin.actor();
    state
        .db
        .run(move |conn| crate::operations::admin::record(conn, &actor, action, &target, &detail))
        .await
}
