//! Readiness: can the server serve files now? (`/ready` of the metrics
//! endpoint.) Liveness (`/health`) needs no check: answering is enough.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{Account, Permissions};
use crate::Server;

/// Longest a readiness check waits for one home's storage. A probe that
/// waits longer (Kubernetes' default is 1 s, with its own timeout) learns
/// nothing more, and a stalled backend must not pile up checks.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why [`Server::check_ready`] failed: a home's storage could not be
/// opened or reached in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// The home that failed, as given to
    /// [`Builder::readiness_home`](crate::Builder::readiness_home).
    pub home: PathBuf,
    /// What went wrong, for people.
    pub reason: String,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage of {}: {}", self.home.display(), self.reason)
    }
}

impl std::error::Error for NotReady {}

impl Server {
    /// Checks that the storage of each
    /// [readiness home](crate::Builder::readiness_home) opens, as at a
    /// login, and is reachable
    /// ([`Storage::check_reachable`](crate::storage::Storage::check_reachable)),
    /// each within a timeout (2 s). `Ok` when no home was given.
    pub async fn check_ready(&self) -> Result<(), NotReady> {
        let config = self.config();
        for home in &config.readiness_homes {
            let not_ready = |reason: String| NotReady {
                home: home.clone(),
                reason,
            };
            let account = Account::new("", home.clone(), Permissions::READ);
            let check = async { config.storage.open(&account).await?.check_reachable().await };
            match tokio::time::timeout(CHECK_TIMEOUT, check).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(not_ready(e.to_string())),
                Err(_) => {
                    return Err(not_ready(format!(
                        "no answer within {} s",
                        CHECK_TIMEOUT.as_secs()
                    )))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::{MemoryStorageFactory, StorageFactory};

    #[tokio::test]
    async fn ready_while_the_served_directory_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir(&served).unwrap();
        let server = Server::builder().readiness_home(&served).build().unwrap();
        assert_eq!(server.check_ready().await, Ok(()));
        std::fs::remove_dir(&served).unwrap();
        let e = server.check_ready().await.unwrap_err();
        assert_eq!(e.home, served);
        // Made again: a new directory, which a login opens.
        std::fs::create_dir(&served).unwrap();
        assert_eq!(server.check_ready().await, Ok(()));
    }

    #[tokio::test]
    async fn a_server_without_readiness_homes_is_ready() {
        let server = Server::builder().build().unwrap();
        assert_eq!(server.check_ready().await, Ok(()));
    }

    #[tokio::test]
    async fn memory_storage_is_ready() {
        let factory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::new(1 << 20));
        let server = Server::builder()
            .storage(factory)
            .readiness_home("/pub")
            .build()
            .unwrap();
        assert_eq!(server.check_ready().await, Ok(()));
    }
}
