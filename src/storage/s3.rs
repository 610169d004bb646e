//! The `s3` backend: stored files as objects in one bucket of any S3-compatible store
//! (Garage, MinIO, Ceph RGW, AWS S3, R2), through the Apache Arrow project's
//! `object_store` client. A key `{username}/{folder}/{variant}/{file}` is the object key.
//!
//! `object_store` is async and wants a Tokio runtime with timers and sockets, which the
//! actix workers (and the blocking threads the library code runs on) do not provide, so
//! every call runs on one small runtime of its own: blocking callers wait with
//! `block_on`, async callers await a spawned task. Retries are few and short: when the
//! store is down a request fails within seconds with [`StoreError::Unavailable`] (503).

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig,
};

use super::{Listed, Listing, ObjectKey, Opened, Source, StoreError};

/// Where the bucket is and who we are to it.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
}

#[derive(Debug)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    pub config: S3Config,
}

/// The runtime every object-store call runs on; never dropped (a Tokio runtime must not
/// be dropped from inside another one, which is where the server's state lives).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("atelier-s3")
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("cannot start the object-store runtime: {err}"))
    })
}

/// Runs `work` on the object-store runtime from async code.
async fn spawned<T: Send + 'static>(
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    runtime()
        .spawn(work)
        .await
        .map_err(|err| StoreError::Failed(err.into()))?
}

impl From<object_store::Error> for StoreError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn path(key: &str) -> Path {
    Path::from(key)
}

impl Bucket {
    pub fn connect(config: S3Config) -> Result<Self, StoreError> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(120))
            .with_allow_http(config.endpoint.starts_with("http://"));
        let store = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|err| StoreError::Failed(err.into()))?;
        Ok(Bucket {
            store: Arc::new(store),
            config,
        })
    }

    /// Asks the store for a key that does not exist: proves the endpoint, the bucket and
    /// the keys work before the server takes requests.
    pub fn check(&self) -> Result<(), StoreError> {
        let store = Arc::clone(&self.store);
        runtime().block_on(async move {
            match store.head(&path(".atelier-probe")).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(err) => Err(StoreError::Unavailable(err.to_string())),
            }
        })
    }

    pub fn put(&self, key: &ObjectKey, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_all(&[(key, bytes)])
    }

    pub fn put_all(&self, files: &[(&ObjectKey, &[u8])]) -> Result<(), StoreError> {
        let puts = files.iter().map(|(key, bytes)| {
            let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
            let location = path(key.as_str());
            let store = &self.store;
            async move { store.put(&location, payload).await }
        });
        runtime().block_on(futures_util::future::try_join_all(puts))?;
        Ok(())
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Vec<u8>, StoreError> {
        let location = path(key.as_str());
        runtime().block_on(async {
            let bytes = self.store.get(&location).await?.bytes().await?;
            Ok(bytes.to_vec())
        })
    }

    pub fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StoreError> {
        match runtime().block_on(self.store.head(&path(key.as_str()))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Copies, then deletes the source (S3 has no rename).
    pub fn rename(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), StoreError> {
        let (from, to) = (path(from.as_str()), path(to.as_str()));
        runtime().block_on(async {
            self.store.copy(&from, &to).await?;
            self.store.delete(&from).await?;
            Ok(())
        })
    }

    /// Deletes an object; a missing one is not an error.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        match runtime().block_on(self.store.delete(&path(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Every object below `prefix` (a username, or a username and folder).
    pub fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let prefix = path(prefix);
        runtime().block_on(async {
            self.store
                .list(Some(&prefix))
                .map_ok(|meta| Listed {
                    name: meta.location.to_string(),
                    modified: meta.last_modified.into(),
                })
                .try_collect()
                .await
                .map_err(StoreError::from)
        })
    }

    /// When an object was last written; `None` when there is none.
    pub fn modified(&self, key: &str) -> Result<Option<SystemTime>, StoreError> {
        match runtime().block_on(self.store.head(&path(key))) {
            Ok(meta) => Ok(Some(meta.last_modified.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The top of the bucket: the first segments of keys, and objects stored there.
    pub fn top_level(&self) -> Result<Listing, StoreError> {
        let listed = runtime().block_on(self.store.list_with_delimiter(None))?;
        Ok(Listing {
            prefixes: listed
                .common_prefixes
                .iter()
                .map(ToString::to_string)
                .collect(),
            names: listed
                .objects
                .iter()
                .map(|meta| meta.location.to_string())
                .collect(),
        })
    }

    /// Fetches an object to serve: one GET, whose body is read whole when it has at most
    /// `small` bytes and otherwise dropped, to be fetched by range as the response needs.
    pub async fn open(&self, key: &ObjectKey, small: u64) -> Result<Opened, StoreError> {
        let store = Arc::clone(&self.store);
        let location = path(key.as_str());
        spawned(async move {
            let got = store.get(&location).await?;
            let meta = got.meta.clone();
            let whole = if meta.size <= small {
                Some(got.bytes().await?)
            } else {
                None
            };
            let modified = SystemTime::from(meta.last_modified);
            let etag = match meta.e_tag {
                Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => tag,
                Some(tag) => format!("\"{tag}\""),
                None => format!("\"{:x}-{:x}\"", meta.last_modified.timestamp(), meta.size),
            };
            Ok(Opened {
                len: meta.size,
                etag,
                modified,
                whole,
                source: Source::Object {
                    store: store as Arc<dyn ObjectStore>,
                    location,
                },
            })
        })
        .await
    }
}

/// Streams `range` of an object, a few chunks ahead at most: the object-store runtime
/// reads, a bounded channel carries, so a slow client never makes the server buffer more.
pub fn stream_range(
    store: Arc<dyn ObjectStore>,
    location: Path,
    range: Range<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    runtime().spawn(async move {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let mut body = match store.get_opts(&location, options).await {
            Ok(got) => got.into_stream(),
            Err(err) => {
                let _ = sender.send(Err(std::io::Error::other(err))).await;
                return;
            }
        };
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if sender
                .send(chunk.map_err(std::io::Error::other))
                .await
                .is_err()
                || failed
            {
                return;
            }
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}
