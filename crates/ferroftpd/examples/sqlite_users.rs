//! Recipe: a custom authorizer (pyftpdlib's `DummyAuthorizer` subclass,
//! aioftp's "Custom User Manager", `AbstractUserManager`). An authorizer
//! backed by a database (SQLite): users, password hashes,
//! homes and permission letters live in a table, and each login looks them
//! up. The database is opened once; queries and password checks run on the
//! blocking pool.
//!
//! ```sh
//! cargo run -p ferroftpd --example sqlite_users -- users.db /srv/ftp 127.0.0.1:2121
//! curl ftp://alice:wonderland@127.0.0.1:2121/
//! ```
//!
//! Prints `listening on ADDR` once it accepts.
//!
//! On first run the example creates the table and the user `alice` with the
//! password `wonderland`. Add users with any SQLite client:
//! `INSERT INTO users VALUES ('bob', '<hash>', '/srv/bob', 'elr', 0)`, the
//! hash from `ferroftpd hash-password`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferroftpd::auth::{
    hash_password, verify_password, Account, AuthError, Authorizer, HashScheme, LoginContext,
    Permissions,
};
use ferroftpd::proto::command::Password;
use ferroftpd::Server;
use rusqlite::{Connection, OptionalExtension};

#[derive(Debug)]
struct SqliteAuthorizer {
    db: Arc<Mutex<Connection>>,
}

/// One row of the `users` table.
struct Row {
    hash: String,
    home: String,
    perms: String,
    disabled: bool,
}

impl SqliteAuthorizer {
    fn open(path: &str, default_home: &str) -> rusqlite::Result<Self> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                 name TEXT PRIMARY KEY, hash TEXT NOT NULL, home TEXT NOT NULL,
                 perms TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)",
        )?;
        let empty: i64 = db.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        if empty == 0 {
            let hash = hash_password(HashScheme::Argon2id, "wonderland").unwrap_or_default();
            db.execute(
                "INSERT INTO users VALUES ('alice', ?1, ?2, 'elradfmwMT', 0)",
                (hash, default_home),
            )?;
        }
        Ok(SqliteAuthorizer {
            db: Arc::new(Mutex::new(db)),
        })
    }

    fn row(db: &Mutex<Connection>, name: &str) -> rusqlite::Result<Option<Row>> {
        let db = db.lock().unwrap_or_else(|e| e.into_inner());
        db.query_row(
            "SELECT hash, home, perms, disabled FROM users WHERE name = ?1",
            [name],
            |r| {
                Ok(Row {
                    hash: r.get(0)?,
                    home: r.get(1)?,
                    perms: r.get(2)?,
                    disabled: r.get(3)?,
                })
            },
        )
        .optional()
    }
}

#[async_trait]
impl Authorizer for SqliteAuthorizer {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        _context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let db = self.db.clone();
        let name = username.to_owned();
        let given = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            let row = SqliteAuthorizer::row(&db, &name)
                .map_err(|e| AuthError::Refused(format!("user database unavailable: {e}")))?;
            let Some(row) = row else {
                return Err(AuthError::BadCredentials);
            };
            if !verify_password(&row.hash, &given) {
                return Err(AuthError::BadCredentials);
            }
            if row.disabled {
                return Err(AuthError::Refused("Account disabled.".into()));
            }
            let perms: Permissions = row
                .perms
                .parse()
                .map_err(|e| AuthError::Refused(format!("bad permissions in the database: {e}")))?;
            Ok(Account::new(name, PathBuf::from(row.home), perms))
        })
        .await
        .map_err(|e| AuthError::Refused(e.to_string()))?
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap_or_else(|| "users.db".into());
    let home = args.next().unwrap_or_else(|| ".".into());
    let home = std::fs::canonicalize(&home)?.to_string_lossy().into_owned();
    let users = SqliteAuthorizer::open(&db, &home)?;
    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    let stopper = server.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.abort();
    });
    server.serve(listener).await?;
    Ok(())
}
