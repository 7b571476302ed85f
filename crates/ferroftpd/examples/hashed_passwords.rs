//! Recipe: storing passwords as hash digests (pyftpdlib's tutorial
//! "Storing passwords as hash digests"). Passwords live in a users file
//! as argon2id hashes (bcrypt and SHA-512-crypt are read too), never in
//! clear text; `auth::UsersFile` checks them.
//!
//! ```sh
//! cargo run -p ferroftpd --example hashed_passwords -- 127.0.0.1:2121 /tmp/ftp /tmp/users.toml
//! curl ftp://user:12345@127.0.0.1:2121/
//! ```
//!
//! If USERS_FILE does not exist, it is written with the user `user`,
//! password `12345`, home DIR, full rights. Add users with hashes from
//! `ferroftpd hash-password` (docs/users.md). Prints `listening on ADDR`
//! once it accepts.

use std::path::Path;
use std::sync::Arc;

use ferroftpd::auth::{hash_password, HashScheme, UsersFile};
use ferroftpd::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let file = args.next().unwrap_or_else(|| "users.toml".into());

    if !Path::new(&file).exists() {
        // Hashing is slow on purpose (that is the point of argon2): do it
        // once, when the user is made, never at each start.
        let hash = hash_password(HashScheme::Argon2id, "12345")?;
        let home = std::fs::canonicalize(&dir)?;
        let users = format!(
            "[[user]]\nname = \"user\"\npassword = \"{hash}\"\nhome = {:?}\nperms = \"elradfmwMT\"\n",
            home.display().to_string()
        );
        std::fs::write(&file, users)?;
    }
    let users = UsersFile::load(&file)?;
    let server = Server::builder().authorizer(Arc::new(users)).build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
