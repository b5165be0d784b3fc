//! Where sealed document bytes live, through the `object_store` crate: local disk for the
//! embedded platform (`file://DIR`), S3-compatible storage in the cluster
//! (`s3://BUCKET[/PREFIX][?endpoint=URL&region=R&allow_http=true]`, credentials from the
//! standard `AWS_*` variables).
//!
//! A document is a sequence of parts `docs/<owner>/<document>/<index>`, each a few MiB of
//! sealed chunks, written once and never changed; the store knows which documents exist, so a
//! part without a document is an orphan that the clean-up pass removes.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use passerelle_kit::ServiceError;

use crate::error::SetupError;

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// For local disk: the root, so writes can be fsynced.
    local_root: Option<PathBuf>,
    url: String,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("url", &self.url).finish()
    }
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(format!("document storage failed: {e}"))
}

impl Blobs {
    pub fn open(url: &str) -> Result<Self, SetupError> {
        let invalid = |reason: &str| SetupError::BlobsUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(invalid("the directory is empty"));
            }
            let root = PathBuf::from(dir);
            let directory = |what: &'static str, e: std::io::Error| SetupError::Directory {
                what,
                path: root.display().to_string(),
                reason: e.to_string(),
            };
            std::fs::create_dir_all(&root).map_err(|e| directory("create", e))?;
            let root = root.canonicalize().map_err(|e| directory("open", e))?;
            let store =
                LocalFileSystem::new_with_prefix(&root).map_err(|e| invalid(&e.to_string()))?;
            return Ok(Self {
                store: Arc::new(store),
                local_root: Some(root),
                url: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            if bucket.is_empty() {
                return Err(invalid("the bucket is missing"));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                builder = match pair.split_once('=') {
                    Some(("endpoint", v)) => builder.with_endpoint(v),
                    Some(("region", v)) => builder.with_region(v),
                    Some(("allow_http", v)) => builder.with_allow_http(v == "true"),
                    _ => {
                        return Err(invalid(&format!(
                            "unknown parameter `{pair}` (accepted: endpoint, region, allow_http)"
                        )));
                    }
                };
            }
            let store = builder.build().map_err(|e| invalid(&e.to_string()))?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    store,
                    prefix.trim_end_matches('/'),
                ))
            };
            return Ok(Self {
                store,
                local_root: None,
                url: url.to_owned(),
            });
        }
        Err(invalid("unknown scheme"))
    }

    pub fn engine(&self) -> &'static str {
        if self.local_root.is_some() {
            "local"
        } else {
            "s3"
        }
    }

    fn part_path(owner: &str, doc: &str, index: usize) -> Path {
        Path::from(format!("docs/{owner}/{doc}/{index:06}"))
    }

    /// Writes a part; on local disk it is on disk (fsynced) when this returns.
    pub async fn put_part(
        &self,
        owner: &str,
        doc: &str,
        index: usize,
        bytes: Vec<u8>,
    ) -> Result<(), ServiceError> {
        let path = Self::part_path(owner, doc, index);
        self.store
            .put(&path, PutPayload::from(Bytes::from(bytes)))
            .await
            .map_err(unavailable)?;
        if let Some(root) = &self.local_root {
            let file = root.join(path.as_ref());
            tokio::task::spawn_blocking(move || {
                std::fs::File::open(&file)?.sync_all()?;
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok::<_, std::io::Error>(())
            })
            .await
            .map_err(unavailable)?
            .map_err(unavailable)?;
        }
        Ok(())
    }

    pub async fn get_part(
        &self,
        owner: &str,
        doc: &str,
        index: usize,
    ) -> Result<Vec<u8>, ServiceError> {
        let path = Self::part_path(owner, doc, index);
        let result = self.store.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => ServiceError::Internal(format!(
                "part {index} of document {doc} is missing from storage"
            )),
            other => unavailable(other),
        })?;
        Ok(result.bytes().await.map_err(unavailable)?.to_vec())
    }

    /// Deletes every part under `docs/<owner>/[<doc>/]`.
    pub async fn delete_prefix(
        &self,
        owner: &str,
        doc: Option<&str>,
    ) -> Result<usize, ServiceError> {
        let prefix = match doc {
            Some(doc) => Path::from(format!("docs/{owner}/{doc}")),
            None => Path::from(format!("docs/{owner}")),
        };
        let paths: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(unavailable)?;
        for path in &paths {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        // On disk, the emptied directories go too (object stores have none to leave behind).
        if let Some(root) = &self.local_root {
            let dir = root.join(prefix.as_ref());
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(paths.len())
    }

    /// Every `(owner, document)` that has parts in storage.
    pub async fn documents(&self) -> Result<Vec<(String, String)>, ServiceError> {
        let mut out: Vec<(String, String)> = self
            .store
            .list(Some(&Path::from("docs")))
            .map_ok(|meta| {
                let parts: Vec<String> = meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_owned())
                    .collect();
                match parts.as_slice() {
                    [_, owner, doc, _] => Some((owner.clone(), doc.clone())),
                    _ => None,
                }
            })
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
            .map_err(unavailable)?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The raw path of a part on local disk (for operators and tests).
    pub fn local_part_file(&self, owner: &str, doc: &str, index: usize) -> Option<PathBuf> {
        self.local_root
            .as_ref()
            .map(|root| root.join(Self::part_path(owner, doc, index).as_ref()))
    }
}
