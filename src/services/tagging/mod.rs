//! Tag suggestions (SPEC §14): a [`Tagger`] looks at one picture and proposes tags, each
//! with a confidence; nothing here writes to an image. The owner accepts or dismisses them
//! (`operations::tagging`). `builtin` is offline and deterministic, `openai` asks any
//! OpenAI-compatible vision model, `off` suggests nothing.
//!
//! Whatever a tagger answers is data, never trusted: every tag goes through the tag rules
//! (`domain::normalize_tag`), the optional vocabulary, and a cap on how many are kept.

mod builtin;
mod remote;

use std::sync::Arc;
use std::time::Duration;

use diesel::PgConnection;
use ipnetwork::IpNetwork;
pub use remote::RemoteTagger;

use crate::base::config::Settings;
use crate::db::models::User;
use crate::db::models::job::{self, Job, NewJob};
use crate::domain::{JobKind, normalize_tag};

/// How many suggestions one picture gets at most.
pub const MAX_SUGGESTIONS: usize = 10;

/// One proposed tag and how sure the tagger is (0 to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub tag: String,
    pub confidence: f32,
}

/// What a tagger is shown of one picture.
pub struct TagRequest {
    /// The thumbnail or working copy as stored (JPEG, PNG or WebP; never `pristine`).
    pub picture: Vec<u8>,
    pub mime: String,
    /// Set when Atelier's own painter made the picture: what it was asked to paint.
    pub painted: Option<(String, u64)>,
    pub width: u32,
    pub height: u32,
    /// The file carried camera details.
    pub from_camera: bool,
    /// The language the owner wants tags in.
    pub language: String,
    /// The owner's tags in use (a vocabulary always allows these).
    pub owner_tags: Vec<String>,
}

/// A failure in words for the owner (never a secret or a stack trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError(pub String);

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The configured tagger and the vocabulary that limits it.
#[derive(Clone)]
pub struct Tagger {
    kind: Arc<TaggerKind>,
    vocabulary: Option<Arc<Vec<String>>>,
    /// `ATELIER_AUTO_TAG=suggest`: uploads and generations get suggestions unasked.
    auto: bool,
    /// Credits one picture's suggestions cost (`ATELIER_CREDITS_PER_TAGGING`).
    credits: i64,
}

enum TaggerKind {
    Off,
    Builtin,
    Remote(RemoteTagger),
}

impl Tagger {
    /// From `ATELIER_TAGGER` and friends; the vocabulary file is read once, here.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let kind = match settings.tagger.as_str() {
            "off" => TaggerKind::Off,
            "builtin" => TaggerKind::Builtin,
            "openai" => {
                let base_url = settings.tagger_base_url.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("ATELIER_TAGGER=openai needs ATELIER_TAGGER_BASE_URL")
                })?;
                TaggerKind::Remote(RemoteTagger::new(
                    base_url,
                    settings.tagger_api_key.as_deref(),
                    &settings.tagger_model,
                    Duration::from_secs(settings.tagger_timeout_secs),
                )?)
            }
            other => anyhow::bail!("ATELIER_TAGGER must be builtin, openai or off, not {other:?}"),
        };
        let vocabulary = match &settings.tag_vocabulary {
            None => None,
            Some(path) => Some(Arc::new(read_vocabulary(path)?)),
        };
        let auto = match settings.auto_tag.as_str() {
            "suggest" => true,
            "off" => false,
            other => anyhow::bail!("ATELIER_AUTO_TAG must be suggest or off, not {other:?}"),
        };
        Ok(Self {
            kind: Arc::new(kind),
            vocabulary,
            auto,
            credits: i64::from(settings.credits_per_tagging),
        })
    }

    /// Whether new pictures get suggestions without being asked (never when they cost
    /// credits: nobody pays for what they did not ask for).
    pub fn suggests_unasked(&self) -> bool {
        self.auto && !self.is_off() && self.credits == 0
    }

    /// What one picture's suggestions cost.
    pub fn credits(&self) -> i64 {
        self.credits
    }

    pub fn is_off(&self) -> bool {
        matches!(*self.kind, TaggerKind::Off)
    }

    /// Whether pictures leave this server to be tagged (then only for accounts that
    /// agreed).
    pub fn is_remote(&self) -> bool {
        matches!(*self.kind, TaggerKind::Remote(_))
    }

    /// The remote tagger's name and host, as `/account` and `/privacy` say them.
    pub fn remote(&self) -> Option<(&str, &str)> {
        match &*self.kind {
            TaggerKind::Remote(remote) => Some((remote.model(), remote.host())),
            _ => None,
        }
    }

    /// Whether this tagger may look at `owner`'s pictures: never when off, a remote one
    /// only once the owner agreed on `/account`.
    pub fn may_tag(&self, owner: &User) -> bool {
        match &*self.kind {
            TaggerKind::Off => false,
            TaggerKind::Builtin => true,
            TaggerKind::Remote(_) => owner.remote_tagging,
        }
    }

    /// Queues a `tag` job for `owner`'s image (the job checks owner and consent again when
    /// it runs). The caller has checked [`Tagger::may_tag`] and, when it costs, charged
    /// the job `id` (recorded as `params.charge`, refunded if the job fails).
    pub fn enqueue(
        conn: &mut PgConnection,
        owner: &User,
        image_id: i64,
        client_ip: Option<IpNetwork>,
        paid: Option<(i64, serde_json::Value)>,
    ) -> diesel::QueryResult<Job> {
        let (id, charge) = paid.unzip();
        let mut params = serde_json::json!({ "image_id": image_id });
        if let Some(charge) = charge {
            params["charge"] = charge;
        }
        job::enqueue(
            conn,
            &NewJob {
                id,
                user_id: Some(owner.id),
                owner_key: &format!("user:{}", owner.id),
                kind: JobKind::Tag,
                prompt: "",
                params,
                client_ip,
                anon_id: None,
            },
        )
    }

    /// After an upload or generation: a tagging job for each new picture when the server
    /// suggests unasked and may look at this owner's pictures (never for anonymous ones).
    pub fn suggest_unasked(
        &self,
        conn: &mut PgConnection,
        owner: &User,
        image_ids: &[i64],
        client_ip: Option<IpNetwork>,
    ) -> diesel::QueryResult<usize> {
        if !self.suggests_unasked() || !self.may_tag(owner) {
            return Ok(0);
        }
        for &image_id in image_ids {
            Self::enqueue(conn, owner, image_id, client_ip, None)?;
        }
        Ok(image_ids.len())
    }

    /// Whether the owner's own tags matter (a vocabulary allows them): reading them is a
    /// pass over the owner's library, made only then.
    pub fn needs_owner_tags(&self) -> bool {
        self.vocabulary.is_some()
    }

    /// What suggestions are labelled with: `builtin` or `openai:{model}`.
    pub fn source(&self) -> String {
        match &*self.kind {
            TaggerKind::Off => "off".to_owned(),
            TaggerKind::Builtin => "builtin".to_owned(),
            TaggerKind::Remote(remote) => format!("openai:{}", remote.model()),
        }
    }

    /// Suggestions for one picture, cleaned: tags that break the rules or fall outside
    /// the vocabulary are dropped, duplicates collapse, the most confident come first.
    /// Blocking (decoding, HTTP): call from the blocking pool.
    pub fn suggest(&self, request: &TagRequest) -> Result<Vec<Suggestion>, TagError> {
        let raw = match &*self.kind {
            TaggerKind::Off => Vec::new(),
            TaggerKind::Builtin => builtin::suggest(request),
            TaggerKind::Remote(remote) => remote.suggest(request, self.vocabulary.as_deref())?,
        };
        Ok(self.clean(raw, &request.owner_tags))
    }

    fn clean(&self, raw: Vec<Suggestion>, owner_tags: &[String]) -> Vec<Suggestion> {
        let mut kept: Vec<Suggestion> = Vec::new();
        for suggestion in raw {
            let Some(tag) = normalize_tag(&suggestion.tag) else {
                continue;
            };
            let allowed = self
                .vocabulary
                .as_ref()
                .is_none_or(|words| words.contains(&tag) || owner_tags.contains(&tag));
            if !allowed || !suggestion.confidence.is_finite() {
                continue;
            }
            if kept.iter().any(|seen| seen.tag == tag) {
                continue;
            }
            kept.push(Suggestion {
                tag,
                confidence: suggestion.confidence.clamp(0.0, 1.0),
            });
        }
        kept.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        kept.truncate(MAX_SUGGESTIONS);
        kept
    }
}

/// One tag a line; blank lines and `#` comments skipped; each line must be a valid tag.
fn read_vocabulary(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("cannot read ATELIER_TAG_VOCABULARY {path:?}: {err}"))?;
    let mut words = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let tag = normalize_tag(line).ok_or_else(|| {
            anyhow::anyhow!("{path:?} line {}: {line:?} is not a valid tag", number + 1)
        })?;
        if !words.contains(&tag) {
            words.push(tag);
        }
    }
    if words.is_empty() {
        anyhow::bail!("ATELIER_TAG_VOCABULARY {path:?} lists no tags");
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagger(vocabulary: Option<Vec<&str>>) -> Tagger {
        Tagger {
            kind: Arc::new(TaggerKind::Builtin),
            vocabulary: vocabulary
                .map(|words| Arc::new(words.into_iter().map(String::from).collect())),
            auto: true,
            credits: 0,
        }
    }

    fn raw(tags: &[(&str, f32)]) -> Vec<Suggestion> {
        tags.iter()
            .map(|(tag, confidence)| Suggestion {
                tag: (*tag).to_owned(),
                confidence: *confidence,
            })
            .collect()
    }

    #[test]
    fn cleaning_drops_what_breaks_the_rules_and_keeps_the_surest() {
        let cleaned = tagger(None).clean(
            raw(&[
                ("Sunset", 0.4),
                ("<script>", 0.99),
                ("a\0b", 0.9),
                ("sunset", 0.8),
                ("way too long a tag for the rules of atelier", 0.9),
                ("sea", f32::NAN),
                ("lake", 7.0),
            ]),
            &[],
        );
        assert_eq!(
            cleaned,
            raw(&[("lake", 1.0), ("sunset", 0.4)]),
            "first spelling wins, NaN and markup dropped, confidence clamped"
        );
        let many: Vec<(String, f32)> = (0..10_000).map(|i| (format!("t{i}"), 0.5)).collect();
        let many: Vec<(&str, f32)> = many.iter().map(|(t, c)| (t.as_str(), *c)).collect();
        assert_eq!(tagger(None).clean(raw(&many), &[]).len(), MAX_SUGGESTIONS);
    }

    #[test]
    fn a_vocabulary_allows_its_words_and_the_owners_tags() {
        let cleaned = tagger(Some(vec!["sea", "sky"])).clean(
            raw(&[("sea", 0.9), ("boat", 0.8), ("holiday", 0.7)]),
            &["holiday".to_owned()],
        );
        assert_eq!(cleaned, raw(&[("sea", 0.9), ("holiday", 0.7)]));
    }
}
