//! Recipe: virtual folders: one user's tree made of several directories,
//! each mounted at a path (SFTPGo's virtual folders; pyftpdlib and aioftp
//! have none, their users see one directory). An authorizer of your own
//! wraps `MemoryAuthorizer` and adds the mounts to each account.
//!
//! ```sh
//! cargo run -p ferroftpd --example virtual_folders -- 127.0.0.1:2121 /tmp/ftp
//! curl ftp://user:12345@127.0.0.1:2121/shared/
//! ```
//!
//! Under DIR it makes `home/` (the user's `/`) and `shared/` (seen as
//! `/shared`, read-only). Prints `listening on ADDR` once it accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::auth::{
    Account, AuthError, Authorizer, LoginContext, MemoryAuthorizer, Permissions,
};
use ferroftpd::proto::command::Password;
use ferroftpd::storage::{LocalStorageFactory, Mount, StorageSettings, VirtualPath};
use ferroftpd::Server;

/// Every account of `inner`, with `shared` mounted at `/shared`.
#[derive(Debug)]
struct WithSharedFolder {
    inner: MemoryAuthorizer,
    settings: Arc<StorageSettings>,
}

#[async_trait]
impl Authorizer for WithSharedFolder {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let mut account = self.inner.authenticate(username, password, context).await?;
        account.storage_settings = Some(self.settings.clone());
        Ok(account)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let root = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    for dir in ["home", "shared"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let shared = VirtualPath::root()
        .resolve(b"/shared")
        .map_err(|e| format!("{e:?}"))?;

    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", root.join("home"), Permissions::ALL)?;
    // Permissions follow the paths the user sees, mounts included.
    users.override_perm("user", "/shared", Permissions::READ, true)?;
    let settings = StorageSettings {
        mounts: vec![Mount {
            path: shared,
            factory: Arc::new(LocalStorageFactory),
            home: std::fs::canonicalize(Path::new(&root).join("shared"))?,
        }],
        ..StorageSettings::default()
    };
    let users = WithSharedFolder {
        inner: users,
        settings: Arc::new(settings),
    };
    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
