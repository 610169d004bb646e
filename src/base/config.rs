//! Typed settings, read once at start and passed in (never a global).
//!
//! Sources, later wins: built-in defaults, an optional TOML file (`--config`), then the
//! environment (`ATELIER_*`, plus `DATABASE_URL`). The TOML file uses the environment names
//! in lower case without the `ATELIER_` prefix, so `ATELIER_BCRYPT_COST` is `bcrypt_cost`.
//! Tests build settings from a plain map with [`Settings::from_map`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use ipnetwork::IpNetwork;

/// Declares every setting once: its field (the TOML name; `ATELIER_` + upper case in the
/// environment), its type, and how it is read with its default. From this come the
/// `Settings` struct, the list of known names (typos in the file are errors) and the
/// reading itself.
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident : $ty:ty = $read:expr,)+) => {
        /// Every setting Atelier reads. Field names are the TOML names.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(#[$doc])* pub $name: $ty,)+
        }

        /// The names Atelier knows, for spotting typos in the TOML file.
        const KNOWN: &[&str] = &[$(stringify!($name)),+];

        impl Settings {
            fn read(values: &Values<'_>) -> anyhow::Result<Self> {
                Ok(Settings {
                    $($name: ($read)(values, stringify!($name))?,)+
                })
            }
        }
    };
}

/// How a setting is read: a parsed value with its default.
fn parsed<T: FromStr + Clone>(default: T) -> impl Fn(&Values<'_>, &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    move |values, name| values.parse(name, default.clone())
}

/// Text with a default.
fn text_or(default: &'static str) -> impl Fn(&Values<'_>, &str) -> anyhow::Result<String> {
    move |values, name| Ok(values.get(name).unwrap_or(default).to_owned())
}

/// Text that may be unset.
fn optional() -> impl Fn(&Values<'_>, &str) -> anyhow::Result<Option<String>> {
    |values, name| Ok(values.get(name).map(str::to_owned))
}

/// A path that may be unset.
fn optional_path() -> impl Fn(&Values<'_>, &str) -> anyhow::Result<Option<PathBuf>> {
    |values, name| Ok(values.get(name).map(PathBuf::from))
}

/// Text taken exactly as given (a password may start or end with spaces).
fn untrimmed() -> impl Fn(&Values<'_>, &str) -> anyhow::Result<Option<String>> {
    |values, name| Ok(values.0.get(name).cloned())
}

/// A folder with a default.
fn path_or(default: &'static str) -> impl Fn(&Values<'_>, &str) -> anyhow::Result<PathBuf> {
    move |values, name| Ok(PathBuf::from(values.get(name).unwrap_or(default)))
}

/// A comma-separated list of CIDRs.
fn cidrs() -> impl Fn(&Values<'_>, &str) -> anyhow::Result<Vec<IpNetwork>> {
    |values, name| {
        parse_cidrs(values.get(name).unwrap_or(""))
            .with_context(|| format!("ATELIER_{}", name.to_ascii_uppercase()))
    }
}

/// An absolute `http(s)://host[:port]` URL without a trailing slash.
fn public_url() -> impl Fn(&Values<'_>, &str) -> anyhow::Result<Option<String>> {
    |values, name| {
        let Some(raw) = values.get(name) else {
            return Ok(None);
        };
        let url = raw.trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let fine = host.is_some_and(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]/_~".contains(&b))
        });
        if !fine {
            bail!(
                "ATELIER_{}: {raw:?} is not an absolute http(s) URL like https://atelier.example.org",
                name.to_ascii_uppercase()
            );
        }
        Ok(Some(url.to_owned()))
    }
}

settings! {
    /// `None` → the embedded private cluster under `data_dir/pg`.
    database_url: Option<String> = optional(),
    bind: String = text_or("127.0.0.1:8080"),
    data_dir: PathBuf = path_or("./data"),
    uploads_dir: PathBuf = path_or("./uploads"),
    /// Where users' files live: `local` (under `uploads_dir`) or `s3` (the bucket below).
    storage: String = text_or("local"),
    /// The S3-compatible store, for `storage = "s3"`: endpoint URL, bucket, region, keys,
    /// and path-style addressing (`endpoint/bucket/key`, what Garage, MinIO and most
    /// self-hosted stores expect; `false` for virtual-hosted `bucket.endpoint/key`).
    s3_endpoint: Option<String> = optional(),
    s3_bucket: Option<String> = optional(),
    s3_region: String = text_or("us-east-1"),
    s3_access_key_id: Option<String> = optional(),
    s3_secret_access_key: Option<String> = untrimmed(),
    s3_path_style: bool = parsed(true),
    /// `GET /metrics` (Prometheus text) answers only with `Authorization: Bearer` this
    /// token; unset, it is 404.
    metrics_token: Option<String> = untrimmed(),
    /// 64+ bytes, hex; `None` → generated once and kept in `data_dir/session.key`.
    session_key: Option<String> = optional(),
    cookie_secure: bool = parsed(false),
    session_ttl_secs: u64 = parsed(14 * 24 * 3600),
    /// Email (optional, with `public_url`): `smtp://host:port` or `smtps://user:pass@host`,
    /// and the sender (`Atelier <atelier@example.org>`).
    smtp_url: Option<String> = optional(),
    mail_from: Option<String> = optional(),
    /// Accounts whose address is not confirmed get no free images.
    require_verified_email: bool = parsed(false),
    /// Admins without two-factor sign-in are sent to set it up before any admin page.
    admin_require_2fa: bool = parsed(false),
    /// Who may create an account: `open` (anyone), `invite` (with an admin's invite link)
    /// or `closed` (nobody; admins still create accounts with the CLI).
    registration: Registration = parsed(Registration::Open),
    /// How long the image proxy may serve a row or a small file from memory (every change
    /// is forgotten at once anyway; this bounds what another writer could leave stale).
    media_cache_secs: u64 = parsed(10),
    /// How long an instance answers a network's "over the limit" from memory (a flood then
    /// costs the database nothing; a use freed early by a refund waits at most this long).
    refusal_memory_secs: u64 = parsed(5),
    trusted_proxies: Vec<IpNetwork> = cidrs(),
    /// The site's absolute URL (`https://atelier.example.org`), for links that leave the
    /// site (share previews); without it they are built from the request only when the
    /// peer is a trusted proxy, never from headers any client could send.
    public_url: Option<String> = public_url(),
    /// Prefix length that groups IPv6 clients for limits (a /64 is one household).
    ipv6_limit_prefix: u8 = parsed(64),
    bcrypt_cost: u32 = parsed(12),
    /// How many bcrypt computations may run at once (each takes a core for ~250 ms at cost 12).
    bcrypt_concurrency: usize = parsed(1),
    login_failure_limit: u32 = parsed(10),
    login_failure_window_secs: u64 = parsed(900),
    db_pool_size: u32 = parsed(16),
    /// How many of those connections serve requests at once, each on a thread of its own:
    /// enough that a few slow queries or file writes leave room for page views, not so
    /// many that they take turns on the same cores with cold caches.
    db_threads: usize = parsed(default_workers() * 4),
    db_connect_timeout_secs: u64 = parsed(3),
    workers: usize = parsed(default_workers()),
    /// Uploads larger than this are refused with 413 before they are read.
    max_upload_bytes: u64 = parsed(20 * 1024 * 1024),
    /// Images with more pixels than this are refused from their header.
    max_image_pixels: u64 = parsed(50_000_000),
    /// Memory all image decoding and encoding in this process may hold at once.
    decode_memory_bytes: u64 = parsed(1 << 30),
    /// Bytes of stored files each account may hold (0: no quota).
    user_storage_bytes: u64 = parsed(2 << 30),
    /// Uploads each account may make in a rolling hour (0: no limit).
    uploads_per_hour: u32 = parsed(120),
    /// The image provider: `builtin` (offline renderer).
    generator: String = text_or("builtin"),
    /// Generation workers this instance runs (0: queue only, another instance works).
    generation_workers: usize = parsed(2),
    /// The OpenAI-compatible provider: base URL (up to and including `/v1`), key, model.
    openai_base_url: String = text_or("https://api.openai.com/v1"),
    openai_api_key: Option<String> = optional(),
    openai_model: String = text_or("gpt-image-1"),
    openai_timeout_secs: u64 = parsed(120),
    /// The model asked for videos (`POST {base}/videos`), and how long a clip may take
    /// from order to download.
    openai_video_model: String = text_or("sora-2"),
    openai_video_timeout_secs: u64 = parsed(900),
    /// ffmpeg, for video (a name on `PATH` or a path; `ffprobe` is looked for beside it).
    /// Without it video is turned off and the server says so at start.
    ffmpeg: String = text_or("ffmpeg"),
    /// An AUTOMATIC1111 / Forge / SD.Next server started with `--api`.
    a1111_url: String = text_or("http://127.0.0.1:7860"),
    /// `user:password` when the server runs with `--api-auth`.
    a1111_auth: Option<String> = optional(),
    a1111_steps: u32 = parsed(20),
    a1111_sampler: String = text_or("Euler a"),
    a1111_cfg_scale: f64 = parsed(7.0),
    a1111_negative_prompt: String = text_or(""),
    /// How far a prompt edit may move from its source (img2img `denoising_strength`).
    a1111_denoising_strength: f64 = parsed(0.6),
    a1111_timeout_secs: u64 = parsed(300),
    /// A ComfyUI server, and the API-format workflow it runs (prompt, seed and size are
    /// filled in; see `deploy/comfyui/`).
    comfyui_url: String = text_or("http://127.0.0.1:8188"),
    comfyui_workflow: Option<String> = optional(),
    comfyui_negative_prompt: String = text_or(""),
    comfyui_timeout_secs: u64 = parsed(300),
    /// Who suggests tags (SPEC §14): `builtin` (offline), `openai` (any OpenAI-compatible
    /// chat-completions server that takes images) or `off`.
    tagger: String = text_or("builtin"),
    /// The remote tagger: base URL (up to and including `/v1`), key, model, timeout.
    tagger_base_url: Option<String> = optional(),
    tagger_api_key: Option<String> = optional(),
    tagger_model: String = text_or("gpt-4o-mini"),
    tagger_timeout_secs: u64 = parsed(60),
    /// A file with one tag a line: suggestions are limited to it and the owner's tags.
    tag_vocabulary: Option<PathBuf> = optional_path(),
    /// `suggest`: every upload and generation gets suggestions; `off`: only on request.
    auto_tag: String = text_or("suggest"),
    /// What one picture's suggestions cost an account (refunded when the tagger fails);
    /// above 0, suggestions are made only when asked.
    credits_per_tagging: u32 = parsed(0),
    /// Anonymous uses per IP key in the rolling window (0: sign-in required). Uploads
    /// always need an account.
    anon_generate_limit: u32 = parsed(3),
    anon_story_limit: u32 = parsed(0),
    anon_video_limit: u32 = parsed(0),
    anon_window_secs: u64 = parsed(86_400),
    /// Unclaimed anonymous images are deleted after this long.
    anon_retention_secs: u64 = parsed(86_400),
    credits_per_image: u32 = parsed(1),
    credits_per_video: u32 = parsed(5),
    signup_credits: u32 = parsed(0),
    /// Free images per IP key for users out of credits, by tier.
    free_images_standard: u32 = parsed(2),
    free_images_plus: u32 = parsed(5),
    /// Standard accounts younger than this get no free images.
    free_min_account_age_secs: u64 = parsed(120),
    /// Client IPs older than this are erased everywhere (rows and counts stay).
    ip_retention_days: u32 = parsed(90),
    /// Where users out of credits are sent to ask for more: a `mailto:` or `https://`
    /// address, linked beside every refusal for want of credits.
    credits_contact: Option<String> = optional(),
    /// Deleted pictures wait in their owner's trash this many days, restorable, before the
    /// periodic clean-up removes them and their files.
    trash_days: u32 = parsed(30),
    /// How often the periodic clean-up runs.
    housekeeping_interval_secs: u64 = parsed(600),
    admin_username: Option<String> = optional(),
    admin_email: Option<String> = optional(),
    admin_password: Option<String> = untrimmed(),
}

/// `ATELIER_REGISTRATION`: who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Open,
    Invite,
    Closed,
}

impl FromStr for Registration {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        match word {
            "open" => Ok(Registration::Open),
            "invite" => Ok(Registration::Invite),
            "closed" => Ok(Registration::Closed),
            other => Err(format!("must be open, invite or closed, not {other:?}")),
        }
    }
}

impl Settings {
    /// Defaults, then `config_file` (if any), then the process environment.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut values = HashMap::new();
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            values.extend(parse_toml(&text).with_context(|| format!("in {}", path.display()))?);
        }
        for (name, value) in std::env::vars() {
            if name == "DATABASE_URL" {
                values.insert("database_url".to_owned(), value);
            } else if let Some(rest) = name.strip_prefix("ATELIER_") {
                let key = rest.to_ascii_lowercase();
                if KNOWN.contains(&key.as_str()) {
                    values.insert(key, value);
                }
            }
        }
        Self::from_map(&values)
    }

    /// Builds settings from TOML-style names; anything missing takes its default, and a
    /// name Atelier does not know is an error (a misspelt setting must not silently run
    /// on its default).
    pub fn from_map(values: &HashMap<String, String>) -> anyhow::Result<Self> {
        let mut unknown: Vec<&str> = values
            .keys()
            .map(String::as_str)
            .filter(|name| !KNOWN.contains(name))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            bail!("unknown setting(s): {}", unknown.join(", "));
        }
        let settings = Settings::read(&Values(values))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(4..=31).contains(&self.bcrypt_cost) {
            bail!("ATELIER_BCRYPT_COST must be between 4 and 31");
        }
        if self.bcrypt_concurrency == 0
            || self.db_pool_size == 0
            || self.db_threads == 0
            || self.workers == 0
        {
            bail!(
                "ATELIER_BCRYPT_CONCURRENCY, ATELIER_DB_POOL_SIZE, ATELIER_DB_THREADS and ATELIER_WORKERS must be at least 1"
            );
        }
        if self.ipv6_limit_prefix > 128 {
            bail!("ATELIER_IPV6_LIMIT_PREFIX must be at most 128");
        }
        if self.login_failure_limit == 0 || self.login_failure_window_secs == 0 {
            bail!("ATELIER_LOGIN_FAILURE_LIMIT and _WINDOW_SECS must be positive");
        }
        if self.decode_memory_bytes < 64 << 20 {
            bail!("ATELIER_DECODE_MEMORY_BYTES must be at least 67108864 (64 MiB)");
        }
        if self.ip_retention_days > 36_500 {
            bail!("ATELIER_IP_RETENTION_DAYS must be at most 36500 (100 years)");
        }
        match self.storage.as_str() {
            "local" => {}
            "s3" => {
                let missing: Vec<&str> = [
                    ("ATELIER_S3_ENDPOINT", self.s3_endpoint.is_none()),
                    ("ATELIER_S3_BUCKET", self.s3_bucket.is_none()),
                    ("ATELIER_S3_ACCESS_KEY_ID", self.s3_access_key_id.is_none()),
                    (
                        "ATELIER_S3_SECRET_ACCESS_KEY",
                        self.s3_secret_access_key.is_none(),
                    ),
                ]
                .into_iter()
                .filter_map(|(name, unset)| unset.then_some(name))
                .collect();
                if !missing.is_empty() {
                    bail!("ATELIER_STORAGE=s3 needs {}", missing.join(", "));
                }
            }
            other => bail!("ATELIER_STORAGE must be local or s3, not {other:?}"),
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|token| token.len() < 16)
        {
            bail!("ATELIER_METRICS_TOKEN must be at least 16 characters");
        }
        let linkable = |url: &str| {
            ["mailto:", "https://", "http://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
                && !url.contains(['"', '<', '>', ' ', '\n', '\r'])
        };
        if self
            .credits_contact
            .as_deref()
            .is_some_and(|url| !linkable(url))
        {
            bail!("ATELIER_CREDITS_CONTACT must be a mailto:, https:// or http:// address");
        }
        if self.anon_window_secs == 0 || self.housekeeping_interval_secs == 0 {
            bail!(
                "ATELIER_ANON_WINDOW_SECS and ATELIER_HOUSEKEEPING_INTERVAL_SECS must be positive"
            );
        }
        Ok(())
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Raw setting values by TOML name.
struct Values<'a>(&'a HashMap<String, String>);

impl<'a> Values<'a> {
    /// The trimmed value; blank counts as unset.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|err| {
                anyhow::anyhow!(
                    "ATELIER_{}: cannot use {raw:?}: {err}",
                    name.to_ascii_uppercase()
                )
            }),
        }
    }
}

/// Comma-separated CIDRs; a bare address means a single host.
pub fn parse_cidrs(raw: &str) -> anyhow::Result<Vec<IpNetwork>> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            IpNetwork::from_str(part)
                .map_err(|err| anyhow::anyhow!("{part:?} is not a CIDR: {err}"))
        })
        .collect()
}

/// Flattens the TOML file into name → text. Arrays (for `trusted_proxies`) join with commas.
fn parse_toml(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let table: toml::Table = text.parse()?;
    let mut values = HashMap::new();
    for (key, value) in table {
        if !KNOWN.contains(&key.as_str()) {
            bail!("unknown setting {key:?}");
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .with_context(|| format!("{key}: expected a list of strings"))?
                .join(","),
            other => bail!("{key}: unsupported value {other:?}"),
        };
        values.insert(key, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let settings = Settings::from_map(&HashMap::new()).expect("defaults are valid");
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.bcrypt_cost, 12);
        assert_eq!(settings.login_failure_limit, 10);
        assert_eq!(settings.login_failure_window_secs, 900);
        assert!(settings.trusted_proxies.is_empty());
        assert!(settings.database_url.is_none());
        assert!(!settings.cookie_secure);
        assert_eq!(settings.max_upload_bytes, 20_971_520);
        assert_eq!(settings.max_image_pixels, 50_000_000);
    }

    #[test]
    fn toml_names_and_lists() {
        let values = parse_toml(
            "bind = \"0.0.0.0:9000\"\nbcrypt_cost = 10\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .expect("valid toml");
        let settings = Settings::from_map(&values).expect("valid settings");
        assert_eq!(settings.bind, "0.0.0.0:9000");
        assert_eq!(settings.bcrypt_cost, 10);
        assert_eq!(settings.trusted_proxies.len(), 2);
    }

    #[test]
    fn the_credits_contact_is_a_mail_or_web_address_and_nothing_else() {
        let with = |url: &str| {
            Settings::from_map(&HashMap::from([(
                "credits_contact".to_owned(),
                url.to_owned(),
            )]))
        };
        assert!(with("mailto:credits@example.com").is_ok());
        assert!(with("https://example.com/credits").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://example.com/\" onmouseover=\"x",
            "example.com",
        ] {
            let err = with(bad).expect_err(bad);
            assert!(err.to_string().contains("ATELIER_CREDITS_CONTACT"), "{err}");
        }
    }

    #[test]
    fn typos_and_bad_values_are_refused_with_the_name() {
        assert!(parse_toml("bcrypt_cots = 4").is_err());
        let values = HashMap::from([("bcrypt_cost".to_owned(), "many".to_owned())]);
        let err = Settings::from_map(&values).expect_err("not a number");
        assert!(err.to_string().contains("ATELIER_BCRYPT_COST"), "{err}");
        let values = HashMap::from([("trusted_proxies".to_owned(), "10.0.0.0/99".to_owned())]);
        assert!(Settings::from_map(&values).is_err());
        let values = HashMap::from([("uploads_per_hr".to_owned(), "0".to_owned())]);
        let err = Settings::from_map(&values).expect_err("a misspelt name");
        assert!(err.to_string().contains("uploads_per_hr"), "{err}");
    }
}
