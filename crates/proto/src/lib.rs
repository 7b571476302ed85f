//! The sans-IO core of the FTP protocol used by ferroftpd.
//!
//! No sockets, no clock, no async runtime: just the pieces of RFC 959 and its
//! extensions that can be expressed as pure functions of bytes, each tested
//! with tables.
//!
//! - [`framing`]: control-channel lines, Telnet sequences, the line limit.
//! - [`command`]: parsing a line into a typed [`command::Command`].
//! - [`escape`]: client text made safe for log lines.
//! - [`reply`]: encoding replies.
//! - [`help`]: HELP texts.
//! - [`message`]: banner files and directory messages as reply lines.
//! - [`address`]: PORT/PASV/EPRT/EPSV syntax.
//! - [`path`]: virtual path normalisation.
//! - [`glob`]: LIST/NLST wildcards.
//! - [`listing`]: LIST, NLST and MLSD/MLST formats.
//! - [`ascii`]: TYPE A line-ending conversion.
//! - [`checksum`]: HASH and XCRC/XMD5/XSHA names and arguments.
//! - [`perms`]: permission letters.
//! - [`security`]: AUTH, PBSZ and PROT arguments.
//! - [`site`]: SITE subcommands.
//! - [`time`]: calendar arithmetic for listings and MDTM.
#![deny(missing_docs)]

pub mod address;
pub mod ascii;
pub mod checksum;
pub mod command;
pub mod escape;
pub mod framing;
pub mod glob;
pub mod help;
pub mod listing;
pub mod message;
pub mod path;
pub mod perms;
pub mod reply;
pub mod security;
pub mod site;
pub mod time;
