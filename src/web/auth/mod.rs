//! Who the client is: password hashing, the PostgreSQL session store and its cache, the
//! session keys, and the anonymous id a visitor's session carries before it has an account.
//! The extractors that turn a request into a user are in `crate::web::extract`.

pub mod cache;
pub mod password;
pub mod session_store;

pub use cache::{AuthCache, Invalidation};
pub use password::PasswordHasher;
pub use session_store::PgSessionStore;

/// Session state keys. Values are JSON, as actix-session stores them.
pub mod keys {
    /// The signed-in user's id.
    pub const USER_ID: &str = "user_id";
    /// Client IP and user agent at sign-in, shown in the account's session list.
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "ua";
    /// A one-shot message for the next page.
    pub const FLASH: &str = "flash";
    /// The session's row id, added by the store on load (never stored in the state).
    pub const SESSION_ID: &str = "_sid";
    /// A sign-in whose password was right, waiting for its second factor.
    pub const PENDING_SECOND_FACTOR: &str = "pending_2fa";
    /// An anonymous visitor's id: names their folder under `uploads/_anon/`.
    pub const ANON_ID: &str = "anon_id";
}

/// The anonymous id of this session, if it has generated anything.
pub fn anon_id(session: &actix_session::Session) -> Option<String> {
    session
        .get::<String>(keys::ANON_ID)
        .ok()
        .flatten()
        .filter(|id| crate::domain::FolderSlug::parse(id).is_some())
}

/// A new anonymous id: 128 random bits, hex (a valid folder slug). The caller stores it in
/// the session (under [`keys::ANON_ID`]) only once it is used, so refused requests leave no
/// session behind.
pub fn new_anon_id() -> Result<String, crate::base::error::AppError> {
    crate::domain::tokens::random_hex(16).map_err(crate::base::error::AppError::internal)
}
