//! The listening sockets handed from the supervisor to a worker: sent as
//! `SCM_RIGHTS` on the worker's stream, first thing, with one byte that
//! says which listeners come.
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

/// The flag byte: an implicit-TLS listener follows the control one.
const IMPLICIT_TLS: u8 = 1;

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
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control_msg = SendAncillaryBuffer::new(&mut space);
    if !control_msg.push(SendAncillaryMessage::ScmRights(&fds)) {
        bail!("passing the listeners: no room for two descriptors");
    }
    let sent = sendmsg(
        stream,
        &[IoSlice::new(&[flags])],
        &mut control_msg,
        SendFlags::empty(),
    )
    .context("passing the listeners to a worker")?;
    if sent != 1 {
        bail!("passing the listeners to a worker: nothing sent");
    }
    Ok(())
}

/// Receives what [`send`] sent (blocking).
pub fn receive(stream: &UnixStream) -> Result<WorkerListeners> {
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
    Ok(WorkerListeners {
        control,
        implicit_tls,
    })
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
        let got = receive(&b).unwrap();
        assert_eq!(
            got.control.local_addr().unwrap(),
            control.local_addr().unwrap()
        );
        assert_eq!(
            got.implicit_tls.unwrap().local_addr().unwrap(),
            implicit.local_addr().unwrap()
        );
        send(&a, &control, None).unwrap();
        assert!(receive(&b).unwrap().implicit_tls.is_none());
        // A stream that closes before sending is an error.
        drop(a);
        assert!(receive(&b).is_err());
    }
}
