//! Recipe: a custom command (pyftpdlib's `ftp_XXX` methods of an
//! `FTPHandler` subclass, aioftp's command handlers): a SITE command of
//! your own, and a guard that refuses uploads by name.
//!
//! ```sh
//! cargo run -p ferroftpd --example extend -- 127.0.0.1:2121 /tmp/ftp
//! curl ftp://user:12345@127.0.0.1:2121/ -Q 'SITE WHOAMI'
//! ```
//!
//! User `user`, password `12345`. Prints `listening on ADDR` once it
//! accepts.

use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::commands::{CommandContext, CommandHandler, CustomCommand};
use ferroftpd::guard::{Guard, Operation, Request, Verdict};
use ferroftpd::proto::reply::Reply;

/// `SITE WHOAMI`: the user name and address the server sees.
#[derive(Debug)]
struct WhoAmI;

#[async_trait]
impl CommandHandler for WhoAmI {
    async fn call(&self, ctx: &mut CommandContext<'_>, _arg: Option<&[u8]>) -> Reply {
        let user = ctx.account().map_or("nobody", |a| a.username.as_str());
        Reply::new(200, format!("You are {user} from {}.", ctx.client().ip()))
    }
}

/// Refuses uploads of Windows executables, before a byte is stored.
#[derive(Debug)]
struct NoExecutables;

#[async_trait]
impl Guard for NoExecutables {
    async fn check(&self, request: &Request<'_>) -> Verdict {
        match &request.operation {
            Operation::Upload { path, .. } if path.as_bytes().ends_with(b".exe") => {
                Verdict::Refuse(Reply::new(553, "No executables here."))
            }
            _ => Verdict::Allow,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".to_owned());
    let root = args.next().unwrap_or_else(|| ".".to_owned());
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", &root, Permissions::ALL)?;
    let whoami = CustomCommand::new(WhoAmI).help("SITE WHOAMI (who you are)");
    let server = ferroftpd::Server::builder()
        .authorizer(Arc::new(users))
        .site_command("WHOAMI", whoami)
        .guard(Arc::new(NoExecutables))
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
