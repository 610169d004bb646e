//! Diesel structs and their query functions, one file per table. Query functions take
//! `&mut PgConnection` and are called inside `Db::run`.

pub mod api_token;
pub mod audit;
pub mod camera;
pub mod email_verification;
pub mod folder;
pub mod image;
pub mod invite;
pub mod ip_activity;
pub mod job;
pub mod listing;
pub mod login_failure;
pub mod password_reset;
pub mod recovery_code;
pub mod session;
pub mod stats;
pub mod tag_suggestion;
pub mod user;

pub use folder::Folder;
pub use image::{Image, ImageTile, Placed, PlacedImage, PlacedTile};
pub use session::SessionRow;
pub use user::{NewUser, User};
