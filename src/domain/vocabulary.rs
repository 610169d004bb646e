//! The words the database stores as text, typed: roles, tiers, job statuses and kinds, image
//! kinds. Each maps to its `TEXT` column through Diesel, so a typo fails to compile, and
//! prints as the word stored.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;

/// Declares an enum stored as one of its words in a `TEXT` column.
macro_rules! stored_words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The value for a stored or submitted word.
            pub fn parse(word: &str) -> Option<Self> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let word = std::str::from_utf8(bytes.as_bytes())?;
                $name::parse(word)
                    .ok_or_else(|| format!("unknown {} {word:?}", stringify!($name)).into())
            }
        }
    };
}

stored_words! {
    /// What an account may do.
    Role { User => "user", Admin => "admin" }
}

stored_words! {
    /// An account's tier: `plus` plays the part of the design notes' NFT holders.
    Tier { Standard => "standard", Plus => "plus" }
}

stored_words! {
    /// Where a generation job is.
    JobStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

stored_words! {
    /// What a generation job makes.
    JobKind { Image => "image", Story => "story", Edit => "edit", Video => "video", Tag => "tag" }
}

stored_words! {
    /// How an image came to be.
    ImageKind { Upload => "upload", Generated => "generated", Edited => "edited" }
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(&status.to_string()), Some(*status));
        }
        assert_eq!(Tier::parse("gold"), None);
        assert_eq!(ImageKind::Generated.as_str(), "generated");
        assert_eq!(JobKind::parse("story"), Some(JobKind::Story));
    }
}
