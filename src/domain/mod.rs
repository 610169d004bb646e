//! Validated values. Input becomes one of these at the boundary (forms, JSON, CLI), so the
//! rest of the code cannot hold an invalid username, email or password.

mod email;
mod password;
mod username;

pub use email::Email;
pub use password::{NewPassword, PasswordProblem};
pub use username::Username;
