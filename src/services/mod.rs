//! The app's services, below the operations that use them: the `library` (files and rows
//! kept in step, its caches, privacy export), `generate` (providers and the job workers),
//! `tagging` (the taggers that suggest tags) and `quota` (client addresses, limits,
//! credits, free images, blocks, storage quota).

pub mod generate;
pub mod library;
pub mod mail;
pub mod quota;
pub mod tagging;
