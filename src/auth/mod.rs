//! Who the client is: password hashing, the PostgreSQL session store, and the extractors
//! (`CurrentUser`, `MaybeUser`) that turn a session into a live, enabled user.

pub mod cache;
pub mod extractors;
pub mod password;
pub mod session_store;

pub use cache::{AuthCache, Invalidation};
pub use extractors::{CurrentUser, MaybeUser, load_user};
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
}
