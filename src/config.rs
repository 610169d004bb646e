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

/// Every setting Atelier reads. Field names are the TOML names.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` → the embedded private cluster under `data_dir/pg`.
    pub database_url: Option<String>,
    pub bind: String,
    pub data_dir: PathBuf,
    pub uploads_dir: PathBuf,
    /// 64+ bytes, hex; `None` → generated once and kept in `data_dir/session.key`.
    pub session_key: Option<String>,
    pub cookie_secure: bool,
    pub session_ttl_secs: u64,
    pub trusted_proxies: Vec<IpNetwork>,
    /// Prefix length that groups IPv6 clients for limits (a /64 is one household).
    pub ipv6_limit_prefix: u8,
    pub bcrypt_cost: u32,
    /// How many bcrypt computations may run at once (each takes a core for ~250 ms at cost 12).
    pub bcrypt_concurrency: usize,
    pub login_failure_limit: u32,
    pub login_failure_window_secs: u64,
    pub db_pool_size: u32,
    pub db_connect_timeout_secs: u64,
    pub workers: usize,
    /// Uploads larger than this are refused with 413 before they are read.
    pub max_upload_bytes: u64,
    /// Images with more pixels than this are refused from their header.
    pub max_image_pixels: u64,
    /// Memory all image decoding and encoding in this process may hold at once.
    pub decode_memory_bytes: u64,
    /// Bytes of stored files each account may hold (0: no quota).
    pub user_storage_bytes: u64,
    /// Uploads each account may make in a rolling hour (0: no limit).
    pub uploads_per_hour: u32,
    /// The image provider: `builtin` (offline renderer).
    pub generator: String,
    /// Generation workers this instance runs (0: queue only, another instance works).
    pub generation_workers: usize,
    /// The OpenAI-compatible provider: base URL (up to and including `/v1`), key, model.
    pub openai_base_url: String,
    pub openai_api_key: Option<String>,
    pub openai_model: String,
    pub openai_timeout_secs: u64,
    /// Anonymous uses per IP key in the rolling window (0: sign-in required). Uploads
    /// always need an account.
    pub anon_generate_limit: u32,
    pub anon_story_limit: u32,
    pub anon_window_secs: u64,
    /// Unclaimed anonymous images are deleted after this long.
    pub anon_retention_secs: u64,
    pub credits_per_image: u32,
    pub signup_credits: u32,
    /// Free images per IP key for users out of credits, by tier.
    pub free_images_standard: u32,
    pub free_images_plus: u32,
    /// Standard accounts younger than this get no free images.
    pub free_min_account_age_secs: u64,
    /// Client IPs older than this are erased everywhere (rows and counts stay).
    pub ip_retention_days: u32,
    /// How often the periodic clean-up runs.
    pub housekeeping_interval_secs: u64,
    pub admin_username: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
}

/// The names Atelier knows, for spotting typos in the TOML file.
const KNOWN: &[&str] = &[
    "database_url",
    "bind",
    "data_dir",
    "uploads_dir",
    "session_key",
    "cookie_secure",
    "session_ttl_secs",
    "trusted_proxies",
    "ipv6_limit_prefix",
    "bcrypt_cost",
    "bcrypt_concurrency",
    "login_failure_limit",
    "login_failure_window_secs",
    "db_pool_size",
    "db_connect_timeout_secs",
    "workers",
    "max_upload_bytes",
    "max_image_pixels",
    "decode_memory_bytes",
    "user_storage_bytes",
    "uploads_per_hour",
    "generator",
    "generation_workers",
    "openai_base_url",
    "openai_api_key",
    "openai_model",
    "openai_timeout_secs",
    "anon_generate_limit",
    "anon_story_limit",
    "anon_window_secs",
    "anon_retention_secs",
    "credits_per_image",
    "signup_credits",
    "free_images_standard",
    "free_images_plus",
    "free_min_account_age_secs",
    "ip_retention_days",
    "housekeeping_interval_secs",
    "admin_username",
    "admin_email",
    "admin_password",
];

impl Settings {
    pub fn upload_limits(&self) -> crate::quota::storage::UploadLimits {
        crate::quota::storage::UploadLimits {
            storage_bytes: self.user_storage_bytes,
            uploads_per_hour: self.uploads_per_hour,
        }
    }

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

    /// Builds settings from TOML-style names; anything missing takes its default.
    pub fn from_map(values: &HashMap<String, String>) -> anyhow::Result<Self> {
        let values = Values(values);
        let get = |name: &str| values.get(name);
        let text = |name: &str| values.get(name).map(str::to_owned);
        let settings = Settings {
            database_url: text("database_url"),
            bind: text("bind").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            data_dir: PathBuf::from(get("data_dir").unwrap_or("./data")),
            uploads_dir: PathBuf::from(get("uploads_dir").unwrap_or("./uploads")),
            session_key: text("session_key"),
            cookie_secure: values.parse("cookie_secure", false)?,
            session_ttl_secs: values.parse("session_ttl_secs", 14 * 24 * 3600)?,
            trusted_proxies: parse_cidrs(get("trusted_proxies").unwrap_or(""))
                .context("ATELIER_TRUSTED_PROXIES")?,
            ipv6_limit_prefix: values.parse("ipv6_limit_prefix", 64)?,
            bcrypt_cost: values.parse("bcrypt_cost", 12)?,
            bcrypt_concurrency: values.parse("bcrypt_concurrency", 1)?,
            login_failure_limit: values.parse("login_failure_limit", 10)?,
            login_failure_window_secs: values.parse("login_failure_window_secs", 900)?,
            db_pool_size: values.parse("db_pool_size", 16)?,
            db_connect_timeout_secs: values.parse("db_connect_timeout_secs", 3)?,
            workers: values.parse("workers", default_workers())?,
            max_upload_bytes: values.parse("max_upload_bytes", 20 * 1024 * 1024)?,
            max_image_pixels: values.parse("max_image_pixels", 50_000_000)?,
            decode_memory_bytes: values.parse("decode_memory_bytes", 1 << 30)?,
            user_storage_bytes: values.parse("user_storage_bytes", 2 << 30)?,
            uploads_per_hour: values.parse("uploads_per_hour", 120)?,
            generator: text("generator").unwrap_or_else(|| "builtin".to_owned()),
            generation_workers: values.parse("generation_workers", 2)?,
            openai_base_url: text("openai_base_url")
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            openai_api_key: text("openai_api_key"),
            openai_model: text("openai_model").unwrap_or_else(|| "gpt-image-1".to_owned()),
            openai_timeout_secs: values.parse("openai_timeout_secs", 120)?,
            anon_generate_limit: values.parse("anon_generate_limit", 3)?,
            anon_story_limit: values.parse("anon_story_limit", 0)?,
            anon_window_secs: values.parse("anon_window_secs", 86_400)?,
            anon_retention_secs: values.parse("anon_retention_secs", 86_400)?,
            credits_per_image: values.parse("credits_per_image", 1)?,
            signup_credits: values.parse("signup_credits", 0)?,
            free_images_standard: values.parse("free_images_standard", 2)?,
            free_images_plus: values.parse("free_images_plus", 5)?,
            free_min_account_age_secs: values.parse("free_min_account_age_secs", 120)?,
            ip_retention_days: values.parse("ip_retention_days", 90)?,
            housekeeping_interval_secs: values.parse("housekeeping_interval_secs", 600)?,
            admin_username: text("admin_username"),
            admin_email: text("admin_email"),
            admin_password: values.0.get("admin_password").cloned(),
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(4..=31).contains(&self.bcrypt_cost) {
            bail!("ATELIER_BCRYPT_COST must be between 4 and 31");
        }
        if self.bcrypt_concurrency == 0 || self.db_pool_size == 0 || self.workers == 0 {
            bail!(
                "ATELIER_BCRYPT_CONCURRENCY, ATELIER_DB_POOL_SIZE and ATELIER_WORKERS must be at least 1"
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
    fn typos_and_bad_values_are_refused_with_the_name() {
        assert!(parse_toml("bcrypt_cots = 4").is_err());
        let values = HashMap::from([("bcrypt_cost".to_owned(), "many".to_owned())]);
        let err = Settings::from_map(&values).expect_err("not a number");
        assert!(err.to_string().contains("ATELIER_BCRYPT_COST"), "{err}");
        let values = HashMap::from([("trusted_proxies".to_owned(), "10.0.0.0/99".to_owned())]);
        assert!(Settings::from_map(&values).is_err());
    }
}
