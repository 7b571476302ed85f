//! ferroftpd: an FTP server you can embed.
//!
//! Build a [`Server`] with [`Server::builder`], give it an
//! [`auth::Authorizer`] (who may log in), a [`storage::StorageFactory`]
//! (where their files live), and serve a listener:
//!
//! ```no_run
//! use std::sync::Arc;
//! use ferroftpd::{Server, auth::{MemoryAuthorizer, Permissions}};
//! # async fn run() -> Result<(), ferroftpd::Error> {
//! let users = MemoryAuthorizer::new();
//! users.add_user("user", "12345", "/srv/ftp", Permissions::ALL)?;
//! users.add_anonymous("/srv/ftp", Permissions::READ)?;
//! let server = Server::builder().authorizer(Arc::new(users)).build()?;
//! server.serve(ferroftpd::bind("0.0.0.0:2121".parse().unwrap())?).await
//! # }
//! ```
//!
//! Each connection is one tokio task that owns its session state; each
//! transfer is a further task, so the control connection stays responsive.
//! The protocol itself (parsing, replies, listings) lives in the sans-IO
//! crate [`ferroftpd_proto`].
#![deny(missing_docs)]

#[cfg(feature = "admin")]
pub mod admin;
pub mod auth;
mod charset;
mod checksum;
pub mod commands;
pub mod config;
mod data;
mod error;
pub mod guard;
pub mod hooks;
mod limits;
mod listing_rules;
pub mod metrics;
mod names;
pub mod proxy;
mod ready;
pub mod registry;
#[cfg(feature = "sandbox")]
pub mod sandbox;
mod server;
mod session;
pub mod shared_limits;
pub mod storage;
mod throttle;
pub mod tls;

pub use config::{
    Builder, HideIds, NamePattern, PassivePorts, RateLimits, ServerConfig, SessionReuse,
    DEFAULT_MAX_CONNECTIONS, MAX_DURATION,
};
pub use error::Error;
pub use ferroftpd_proto as proto;
pub use limits::{Ban, BanPolicy, BanReason};
pub use proxy::ProxyProtocol;
pub use ready::NotReady;
pub use server::{bind, bind_std, Server};
pub use throttle::Rate;
pub use tls::TlsConfig;
