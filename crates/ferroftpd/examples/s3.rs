//! Recipe: files in an S3 bucket (feature `s3`); pyftpdlib and aioftp
//! have no counterpart (aioftp's nearest is a `PathIO` of your own).
//!
//! ```sh
//! export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
//! cargo run -p ferroftpd --features s3 --example s3 -- 127.0.0.1:2121 s3://bucket/ftp http://127.0.0.1:8333
//! curl -T notes.txt ftp://user:12345@127.0.0.1:2121/
//! ```
//!
//! Arguments: address, `s3://BUCKET[/PREFIX]`, and the endpoint of an
//! S3-compatible store (left out: AWS, region from `AWS_REGION` or
//! us-east-1). Keys come from the standard AWS sources. The user's home
//! is `/user`, that is `PREFIX/user/` in the bucket. Prints
//! `listening on ADDR` once it accepts.

use std::sync::Arc;

use ferroftpd::auth::{MemoryAuthorizer, Permissions};
use ferroftpd::storage::ObjectStorageConfig;
use ferroftpd::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:2121".into());
    let url = args
        .next()
        .ok_or("usage: s3 ADDR s3://BUCKET[/PREFIX] [ENDPOINT]")?;
    let mut config = ObjectStorageConfig::from_url(&url)?;
    if let Some(endpoint) = args.next() {
        config = config.endpoint(endpoint);
    }
    if let Ok(region) = std::env::var("AWS_REGION") {
        config = config.region(region);
    }
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", "/user", Permissions::ALL)?;
    let server = Server::builder()
        .authorizer(Arc::new(users))
        .storage(Arc::new(config.build()?))
        .build()?;
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    server.serve(listener).await?;
    Ok(())
}
