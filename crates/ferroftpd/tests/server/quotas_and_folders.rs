//! Quotas and virtual folders, through the storage layers a session puts
//! over the home.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::auth::{Account, AuthError, Authorizer, LoginContext, MemoryAuthorizer};
use ferroftpd::proto::command::Password;
use ferroftpd::storage::{
    LocalStorageFactory, MemoryStorageFactory, Mount, QuotaLimits, StorageSettings,
};

use crate::common::{read, TestServer};

/// The server's users, with storage settings added to every account.
#[derive(Debug)]
struct WithSettings(Arc<MemoryAuthorizer>, Arc<StorageSettings>);

#[async_trait]
impl Authorizer for WithSettings {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let mut account = self.0.authenticate(username, password, context).await?;
        account.storage_settings = Some(self.1.clone());
        Ok(account)
    }
}

async fn server(settings: StorageSettings) -> TestServer {
    let mut slot = None;
    let srv = TestServer::start_with(|b| {
        let users = Arc::new(MemoryAuthorizer::new());
        slot = Some(users.clone());
        b.authorizer(Arc::new(WithSettings(users, Arc::new(settings))))
    })
    .await;
    let users = slot.unwrap();
    users
        .add_user(
            "user",
            "12345",
            srv.root.path(),
            "elradfmwMT".parse().unwrap(),
        )
        .unwrap();
    srv
}

fn quota(bytes: Option<u64>, files: Option<u64>) -> StorageSettings {
    StorageSettings {
        quota: Some(QuotaLimits {
            max_bytes: bytes,
            max_files: files,
        }),
        ..StorageSettings::default()
    }
}

#[tokio::test]
async fn the_upload_that_crosses_the_byte_quota_fails_and_leaves_nothing() {
    let srv = server(quota(Some(100), None)).await;
    srv.write("old.txt", &[b'o'; 40]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let ((code, _), _) = c.upload("STOR a.bin", &[b'a'; 50]).await;
    assert_eq!(code, 226);
    // 90 of 100 used: 20 more cross the limit.
    let ((code, text), _) = c.upload("STOR b.bin", &[b'b'; 20]).await;
    assert_eq!(
        (code, text.as_str()),
        (552, "Transfer aborted: Quota exceeded.")
    );
    assert!(!srv.path("b.bin").exists());
    // Replacing counts only the growth; a replace that crosses keeps the old
    // file whole.
    let ((code, _), _) = c.upload("STOR old.txt", &[b'n'; 50]).await;
    assert_eq!(code, 226);
    let ((code, _), _) = c.upload("STOR old.txt", &[b'x'; 61]).await;
    assert_eq!(code, 552);
    assert_eq!(read(&srv.path("old.txt")), [b'n'; 50]);
    let usage = c.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Bytes: 100 of 100"), "{usage}");
    // Deleting frees room, at once and for every session of the user.
    c.expect("DELE a.bin", 250).await;
    let mut other = srv.user().await;
    let ((code, _), _) = other.upload("STOR b.bin", &[b'b'; 50]).await;
    assert_eq!(code, 226);
    let usage = other.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Bytes: 100 of 100"), "{usage}");
    // An upload that ends exactly at the limit is fine (the copy path, in
    // ASCII mode, and the splice path, in binary).
    other.expect("DELE b.bin", 250).await;
    other.expect("TYPE A", 200).await;
    let ((code, _), _) = other.upload("STOR c.txt", &[b'c'; 25]).await;
    assert_eq!(code, 226);
    other.expect("TYPE I", 200).await;
    let ((code, _), _) = other.upload("STOR d.bin", &[b'd'; 25]).await;
    assert_eq!(code, 226);
    let ((code, _), _) = other.upload("STOU", b"e").await;
    assert_eq!(code, 552);
}

#[tokio::test]
async fn the_file_quota_counts_new_files_only() {
    let srv = server(quota(None, Some(2))).await;
    let mut c = srv.user().await;
    for name in ["one", "two"] {
        let ((code, _), _) = c.upload(&format!("STOR {name}"), b"x").await;
        assert_eq!(code, 226);
    }
    c.epsv().await;
    assert_eq!(
        c.cmd("STOR three").await,
        (552, "Quota exceeded: too many files.".into())
    );
    // Replacing a file adds none.
    let ((code, _), _) = c.upload("STOR one", b"again").await;
    assert_eq!(code, 226);
    c.expect("RNFR two", 350).await;
    c.expect("RNTO one", 250).await;
    let ((code, _), _) = c.upload("STOR three", b"x").await;
    assert_eq!(code, 226);
    let usage = c.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Files: 2 of 2"), "{usage}");
}

/// Accounting holds where it is easy to get wrong: a rename onto itself,
/// a refused APPE, a STOU at the file limit.
#[tokio::test]
async fn usage_stays_true_to_the_disk() {
    let srv = server(quota(Some(100), Some(3))).await;
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let ((code, _), _) = c.upload("STOR f", &[1; 60]).await;
    assert_eq!(code, 226);
    c.expect("RNFR f", 350).await;
    c.expect("RNTO f", 250).await;
    let usage = c.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Bytes: 60 of 100"), "{usage}");
    assert!(usage.contains("Files: 1 of 3"), "{usage}");
    // An APPE past the limit takes back what it added.
    let ((code, _), _) = c.upload("APPE f", &[2; 50]).await;
    assert_eq!(code, 552);
    assert_eq!(read(&srv.path("f")), [1; 60]);
    let ((code, _), _) = c.upload("APPE f", &[3; 40]).await;
    assert_eq!(code, 226);
    let usage = c.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Bytes: 100 of 100"), "{usage}");
    // At the file limit, STOU creates nothing at all.
    c.expect("DELE f", 250).await;
    for name in ["a", "b", "c"] {
        let ((code, _), _) = c.upload(&format!("STOR {name}"), b"").await;
        assert_eq!(code, 226);
    }
    c.epsv().await;
    assert_eq!(c.cmd("STOU").await.0, 552);
    assert_eq!(std::fs::read_dir(srv.root.path()).unwrap().count(), 3);
}

#[tokio::test]
async fn usage_starts_from_what_the_home_holds() {
    let srv = server(quota(Some(1000), Some(10))).await;
    srv.write("a", &[0; 300]);
    srv.write("sub/b", &[0; 200]);
    let mut c = srv.user().await;
    let usage = c.expect("SITE QUOTA", 200).await;
    assert!(usage.contains("Bytes: 500 of 1000"), "{usage}");
    assert!(usage.contains("Files: 2 of 10"), "{usage}");
}

#[tokio::test]
async fn folders_mount_other_storage_in_one_tree() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("doc.txt"), b"shared doc").unwrap();
    let settings = StorageSettings {
        home_storage: None,
        mounts: vec![Mount {
            path: ferroftpd::proto::path::VirtualPath::root()
                .join(b"shared")
                .unwrap(),
            factory: Arc::new(LocalStorageFactory),
            home: PathBuf::from(shared.path()),
        }],
        quota: Some(QuotaLimits {
            max_bytes: Some(10),
            max_files: None,
        }),
    };
    let srv = server(settings).await;
    srv.write("mine.txt", b"home");
    let mut c = srv.user().await;
    let (listing, _) = c.download("NLST").await;
    let names = String::from_utf8(listing).unwrap();
    assert!(
        names.contains("mine.txt") && names.contains("shared"),
        "{names}"
    );
    let (doc, _) = c.download("RETR /shared/doc.txt").await;
    assert_eq!(doc, b"shared doc");
    // Uploads land in the mounted directory, outside the home's quota.
    let ((code, _), _) = c.upload("STOR /shared/big.bin", &[7; 100]).await;
    assert_eq!(code, 226);
    assert_eq!(
        std::fs::read(shared.path().join("big.bin")).unwrap(),
        [7; 100]
    );
    c.expect("CWD /shared", 250).await;
    c.expect("CWD ..", 250).await;
    assert_eq!(c.cmd("PWD").await.1, "\"/\" is the current directory.");
    // Across folders a rename is refused; the mount point stays.
    c.expect("RNFR /shared/doc.txt", 350).await;
    assert_eq!(
        c.cmd("RNTO /doc.txt").await,
        (550, "Cannot move across folders.".into())
    );
    assert_eq!(c.cmd("RMD /shared").await.0, 550);
    c.expect("RNFR /shared/doc.txt", 350).await;
    c.expect("RNTO /shared/renamed.txt", 250).await;
    assert!(shared.path().join("renamed.txt").exists());
}

#[tokio::test]
async fn home_storage_serves_the_home_instead_of_the_servers() {
    let shared = tempfile::tempdir().unwrap();
    let settings = StorageSettings {
        home_storage: Some(Arc::new(MemoryStorageFactory::new(1 << 20))),
        mounts: vec![Mount {
            path: ferroftpd::proto::path::VirtualPath::root()
                .join(b"shared")
                .unwrap(),
            factory: Arc::new(LocalStorageFactory),
            home: PathBuf::from(shared.path()),
        }],
        quota: Some(QuotaLimits {
            max_bytes: Some(10),
            max_files: None,
        }),
    };
    let srv = server(settings).await;
    // On the server's storage (the disk), not in the user's.
    srv.write("on-disk.txt", b"disk");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let ((code, _), _) = c.upload("STOR mine.txt", b"memory").await;
    assert_eq!(code, 226);
    let (listing, _) = c.download("NLST").await;
    let names = String::from_utf8(listing).unwrap();
    assert!(
        names.contains("mine.txt") && names.contains("shared") && !names.contains("on-disk"),
        "{names}"
    );
    assert!(!srv.root.path().join("mine.txt").exists());
    // The quota applies to that home, the mount on top of it.
    let ((code, _), _) = c.upload("STOR big.bin", &[1; 20]).await;
    assert_eq!(code, 552);
    let ((code, _), _) = c.upload("STOR /shared/big.bin", &[1; 20]).await;
    assert_eq!(code, 226);
    assert!(shared.path().join("big.bin").exists());
    // The same tree at the next login.
    let mut again = srv.user().await;
    let (content, _) = again.download("RETR mine.txt").await;
    assert_eq!(content, b"memory");
}
