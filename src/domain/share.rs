//! What an owner chooses when sharing: who finds the image and for how long the link works.

use chrono::{DateTime, Duration, Utc};

/// Who can find a shared image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareVisibility {
    /// Only people given the link (the default).
    Unlisted,
    /// Also listed, with the owner's name, on `/explore`.
    Public,
}

/// How long a new link works, in whole days; `None` keeps it until revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareExpiry(Option<u16>);

/// The expiries the share form offers, in days.
pub const EXPIRY_CHOICES: [u16; 4] = [1, 7, 30, 365];

/// A public share expires after this many days unless its owner says otherwise.
pub const PUBLIC_DEFAULT_DAYS: u16 = 30;

/// One share request, validated. The default is an unlisted link that never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareChoice {
    pub visibility: ShareVisibility,
    pub expiry: ShareExpiry,
}

impl Default for ShareChoice {
    fn default() -> Self {
        ShareChoice {
            visibility: ShareVisibility::Unlisted,
            expiry: ShareExpiry(None),
        }
    }
}

impl ShareChoice {
    /// From the form's `visibility` (`unlisted`, the default, or `public`) and `expires`
    /// (`never`, or days from [`EXPIRY_CHOICES`]; absent means never for an unlisted link
    /// and [`PUBLIC_DEFAULT_DAYS`] for a public one).
    pub fn parse(visibility: Option<&str>, expires: Option<&str>) -> Result<Self, &'static str> {
        let visibility = match visibility.map(str::trim).unwrap_or("") {
            "" | "unlisted" => ShareVisibility::Unlisted,
            "public" => ShareVisibility::Public,
            _ => {
                return Err(
                    "Choose “unlisted” (only people with the link) or “public” (also on Explore).",
                );
            }
        };
        let expiry = match expires.map(str::trim).unwrap_or("") {
            "" if visibility == ShareVisibility::Public => ShareExpiry(Some(PUBLIC_DEFAULT_DAYS)),
            "" | "never" => ShareExpiry(None),
            days => match days.parse::<u16>() {
                Ok(days) if EXPIRY_CHOICES.contains(&days) => ShareExpiry(Some(days)),
                _ => return Err("A link expires after 1, 7, 30 or 365 days, or never."),
            },
        };
        Ok(ShareChoice { visibility, expiry })
    }

    pub fn is_public(&self) -> bool {
        self.visibility == ShareVisibility::Public
    }

    /// When a link made at `now` stops working.
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expiry
            .0
            .map(|days| now + Duration::days(i64::from(days)))
    }

    /// What the owner is told, e.g. "Unlisted link created: only people you give it to can
    /// see this image. It stops working in 7 days."
    pub fn summary(&self, noun: &str) -> String {
        let who = match self.visibility {
            ShareVisibility::Unlisted => {
                format!("Unlisted link created: only people you give it to can see this {noun}.")
            }
            ShareVisibility::Public => format!(
                "Published: this {noun} is on Explore with your name, and anyone with the link can see it."
            ),
        };
        match self.expiry.0 {
            None => format!("{who} It works until you stop sharing."),
            Some(1) => format!("{who} It stops working in 1 day."),
            Some(days) => format!("{who} It stops working in {days} days."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_is_the_default_and_public_expires_unless_told() {
        let plain = ShareChoice::parse(None, None).expect("default");
        assert_eq!(plain.visibility, ShareVisibility::Unlisted);
        assert_eq!(plain.expiry, ShareExpiry(None));
        let public = ShareChoice::parse(Some("public"), None).expect("public");
        assert_eq!(public.expiry, ShareExpiry(Some(PUBLIC_DEFAULT_DAYS)));
        let forever = ShareChoice::parse(Some("public"), Some("never")).expect("never");
        assert_eq!(forever.expiry, ShareExpiry(None));
        let week = ShareChoice::parse(Some("unlisted"), Some("7")).expect("7");
        assert_eq!(week.expiry, ShareExpiry(Some(7)));
    }

    #[test]
    fn other_values_are_refused() {
        assert!(ShareChoice::parse(Some("everyone"), None).is_err());
        assert!(ShareChoice::parse(None, Some("3")).is_err());
        assert!(ShareChoice::parse(None, Some("-1")).is_err());
        assert!(ShareChoice::parse(None, Some("99999999")).is_err());
    }
}
