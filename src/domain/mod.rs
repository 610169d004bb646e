//! Validated values, and pure rules on plain values (rolling windows). Input becomes one of
//! these at the boundary (forms, JSON, CLI), so the rest of the code cannot hold an invalid
//! username, email or password.

mod email;
mod folder;
mod password;
pub mod rolling_window;
mod share;
mod tags;
mod text;
pub mod tokens;
pub mod totp;
mod username;
pub mod vocabulary;

pub use email::Email;
pub use folder::{FolderSlug, parse_folder_name};
pub use password::{NewPassword, PasswordProblem};
pub use share::{EXPIRY_CHOICES, PUBLIC_DEFAULT_DAYS, ShareChoice, ShareVisibility};
pub use tags::{MAX_TAGS, normalize_tag, parse_tags};
pub use text::{control_message, forbidden_control};
pub use username::Username;
pub use vocabulary::{ImageKind, JobKind, JobStatus, Role, Tier};
