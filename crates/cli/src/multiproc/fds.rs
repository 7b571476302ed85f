//! The listening sockets handed from the supervisor to a worker, or the
//! one connection handed to a session process (`--isolate-sessions`):
//! sent as `SCM_RIGHTS` on the child's stream, first thing, with one byte
//! that says what comes.
//!
//! Passing descriptors on the stream (rather than leaving them open
//! across `exec`) needs no `unsafe` on either side, and no descriptor of
//! the supervisor is ever inheritable: a worker started while another is
//! being set up cannot get its listeners or its stream by accident.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::{bail, Context, Result};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The flag byte: an implicit-TLS listener follows the control one, or
/// (with [`CONNECTION`]) the connection came on the implicit-TLS listener.
const IMPLICIT_TLS: u8 = 1;
/// The flag byte: one accepted connection, not listeners.
const CONNECTION: u8 = 2;

/// What a child receives.
pub enum Handed {
    /// A worker's listeners.
    Listeners(WorkerListeners),
    /// A session process's connection.
    Connection(HandedConnection),
}

/// The connection a session process serves.
pub struct HandedConnection {
    pub stream: std::net::TcpStream,
    /// Accepted on the implicit-TLS listener: the session starts with
    /// the TLS handshake.
    pub implicit_tls: bool,
}

/// The listeners a worker serves.
pub struct WorkerListeners {
    pub control: TcpListener,
    pub implicit_tls: Option<TcpListener>,
}

/// Sends `control` (and `implicit_tls`) on `stream`.
pub fn send(
    stream: &UnixStream,
    control: &TcpListener,
    implicit_tls: Option<&TcpListener>,
) -> Result<()> {
    let mut fds = vec![control.as_fd()];
    let mut flags = 0;
    if let Some(implicit) = implicit_tls {
        fds.push(implicit.as_fd());
        flags |= IMPLICIT_TLS;
    }
    send_fds(stream, flags, &fds)
}

/// Sends one accepted connection on `stream`.
pub fn send_connection(
    stream: &UnixStream,
    connection: &std::net::TcpStream,
    implicit_tls: bool,
) -> Result<()> {
    let flags = CONNECTION | if implicit_tls { IMPLICIT_TLS } else { 0 };
    send_fds(stream, flags, &[connection.as_fd()])
}

fn send_fds(stream: &UnixStream, flags: u8, fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control_msg = SendAncillaryBuffer::new(&mut space);
    if !control_msg.push(SendAncillaryMessage::ScmRights(fds)) {
        bail!("passing descriptors: no room for {}", fds.len());
    }
    let sent = sendmsg(
        stream,
        &[IoSlice::new(&[flags])],
        &mut control_msg,
        SendFlags::empty(),
    )
    .context("passing descriptors to a child process")?;
    if sent != 1 {
        bail!("passing descriptors to a child process: nothing sent");
    }
    Ok(())
}

/// Receives what [`send`] or [`send_connection`] sent (blocking).
pub fn receive(stream: &UnixStream) -> Result<Handed> {
    let mut flags = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control_msg = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut flags)],
        &mut control_msg,
        RecvFlags::CMSG_CLOEXEC,
    )
    .context("receiving the listeners from the supervisor")?;
    if got.bytes != 1 {
        bail!("receiving the listeners: the supervisor closed the stream");
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control_msg.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if flags[0] & CONNECTION != 0 {
        let [fd] = <[OwnedFd; 1]>::try_from(fds).map_err(|fds| {
            anyhow::anyhow!(
                "receiving the connection: {} descriptors, expected 1",
                fds.len()
            )
        })?;
        let stream = std::net::TcpStream::from(fd);
        stream.set_nonblocking(true)?;
        return Ok(Handed::Connection(HandedConnection {
            stream,
            implicit_tls: flags[0] & IMPLICIT_TLS != 0,
        }));
    }
    let expected = if flags[0] & IMPLICIT_TLS != 0 { 2 } else { 1 };
    if fds.len() != expected {
        bail!(
            "receiving the listeners: {} descriptors, expected {expected}",
            fds.len()
        );
    }
    let mut fds = fds.into_iter().map(|fd| {
        let listener = TcpListener::from(fd);
        listener.set_nonblocking(true).map(|()| listener)
    });
    let control = fds.next().context("no control listener")??;
    let implicit_tls = fds.next().transpose()?;
    Ok(Handed::Listeners(WorkerListeners {
        control,
        implicit_tls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_pass_and_keep_their_address() {
        let (a, b) = UnixStream::pair().unwrap();
        let control = TcpListener::bind("127.0.0.1:0").unwrap();
        let implicit = TcpListener::bind("127.0.0.1:0").unwrap();
        send(&a, &control, Some(&implicit)).unwrap();
        let Handed::Listeners(got) = receive(&b).unwrap() else {
            panic!("listeners sent, a connection received")
        };
        assert_eq!(
            got.control.local_addr().unwrap(),
            control.local_addr().unwrap()
        );
        assert_eq!(
            got.implicit_tls.unwrap().local_addr().unwrap(),
            implicit.local_addr().unwrap()
        );
        send(&a, &control, None).unwrap();
        assert!(matches!(
            receive(&b).unwrap(),
            Handed::Listeners(WorkerListeners {
                implicit_tls: None,
                ..
            })
        ));
        // A connection keeps its peer, and says which listener it came on.
        let client = std::net::TcpStream::connect(control.local_addr().unwrap()).unwrap();
        let (accepted, _) = control.accept().unwrap();
        send_connection(&a, &accepted, true).unwrap();
        let Handed::Connection(got) = receive(&b).unwrap() else {
            panic!("a connection sent, listeners received")
        };
        assert!(got.implicit_tls);
        assert_eq!(
            got.stream.peer_addr().unwrap(),
            client.local_addr().unwrap()
        );
        // A stream that closes before sending is an error.
        drop(a);
        assert!(receive(&b).is_err());
    }
}
