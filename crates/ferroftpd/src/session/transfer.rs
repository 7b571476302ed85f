//! Data connections and file transfers: TYPE, REST, PASV, EPSV, PORT, EPRT,
//! RETR, STOR, APPE, STOU, ABOR.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use ferroftpd_proto::address::{format_epsv, format_pasv, EpsvArg};
use ferroftpd_proto::command::TransferType;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;

use super::{Flow, Pending, Running, Session};
use crate::data::engine::Job;
use crate::data::{
    bind_passive, ConnectParams, DataSetup, Direction, Outcome, PassiveListener, Transfer,
    TransferKind,
};
use crate::error::CommandError;
use crate::guard::Operation;
use crate::hooks::{Event as HookEvent, FileEvent};
use crate::metrics::TransferOutcome;
use crate::storage::{Remains, WriteMode};

type Result<T = Reply> = std::result::Result<T, CommandError>;

/// Why `verb` is refused here, if its data connection mode is off
/// (`verb` in upper case).
pub(super) fn mode_off(config: &crate::ServerConfig, verb: &str) -> Option<&'static str> {
    match verb {
        "PORT" | "EPRT" if !config.active_mode => {
            Some("active mode is off on this server; use PASV or EPSV")
        }
        "PASV" | "EPSV" if !config.passive_mode => {
            Some("passive mode is off on this server; use PORT or EPRT")
        }
        _ => None,
    }
}

/// Ports below this are refused for PORT/EPRT unless allowed (RFC 2577).
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

impl Session {
    pub(super) fn set_type(&mut self, t: TransferType) -> Reply {
        self.transfer_type = t;
        match t {
            TransferType::Ascii => Reply::new(200, "Type set to: ASCII."),
            TransferType::Binary => Reply::new(200, "Type set to: Binary."),
        }
    }

    pub(super) fn rest(&mut self, offset: u64) -> Result {
        if self.transfer_type == TransferType::Ascii && offset > 0 {
            // An offset in converted text matches no offset in the file.
            return Err(Reply::new(501, "Resuming transfers not allowed in ASCII mode.").into());
        }
        self.pending = Pending::RestartAt(offset);
        Ok(Reply::new(350, format!("Restarting at position {offset}.")))
    }

    fn refuse_after_epsv_all(&self, verb: &str) -> Result<()> {
        if self.epsv_all {
            return Err(Reply::new(501, format!("{verb} not allowed after EPSV ALL.")).into());
        }
        Ok(())
    }

    /// Opens a passive listener on the address the client connected to.
    fn open_passive(&mut self) -> Result<u16> {
        let listener =
            bind_passive(self.local_ip, self.shared.config.passive_ports).map_err(|e| {
                tracing::warn!(error = %e, "cannot open passive listener");
                CommandError::from(Reply::new(
                    425,
                    "Can't open passive connection: no port available.",
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|_| Reply::new(425, "Can't open passive connection."))?
            .port();
        // A new PASV replaces any earlier listener or PORT target.
        self.data = DataSetup::Passive(Box::new(PassiveListener {
            listener,
            expires: tokio::time::Instant::now() + self.shared.config.passive_accept_timeout,
        }));
        Ok(port)
    }

    /// Refuses `verb` (PORT, EPRT, PASV, EPSV) when its data mode is off,
    /// with 550 as vsftpd does for `port_enable=NO` and `pasv_enable=NO`.
    fn refuse_mode_off(&self, verb: &str) -> Result<()> {
        match mode_off(&self.shared.config, verb) {
            Some(why) => Err(Reply::new(550, format!("{verb} refused: {why}.")).into()),
            None => Ok(()),
        }
    }

    pub(super) fn pasv(&mut self) -> Result {
        self.refuse_mode_off("PASV")?;
        self.refuse_after_epsv_all("PASV")?;
        let IpAddr::V4(local) = self.local_ip else {
            return Err(Reply::new(425, "PASV is for IPv4 only; use EPSV.").into());
        };
        let port = self.open_passive()?;
        let shown = self.shared.config.masquerade_address.unwrap_or(local);
        let text = format!(
            "Entering passive mode ({}).",
            format_pasv(SocketAddrV4::new(shown, port))
        );
        Ok(Reply::new(227, text))
    }

    pub(super) fn epsv(&mut self, arg: EpsvArg) -> Result {
        self.refuse_mode_off("EPSV")?;
        let family = if self.local_ip.is_ipv4() { 1 } else { 2 };
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return Ok(Reply::new(200, "EPSV ALL command successful."));
            }
            EpsvArg::Protocol(p) if p != family => {
                return Err(Reply::new(
                    522,
                    format!("Network protocol not supported, use ({family})."),
                )
                .into());
            }
            _ => {}
        }
        let port = self.open_passive()?;
        Ok(Reply::new(
            229,
            format!("Entering extended passive mode ({}).", format_epsv(port)),
        ))
    }

    /// PORT and EPRT.
    pub(super) fn port(&mut self, verb: &str, addr: SocketAddr) -> Result {
        self.refuse_mode_off(verb)?;
        self.refuse_after_epsv_all(verb)?;
        let config = &self.shared.config;
        let target = SocketAddr::new(
            ferroftpd_proto::address::canonical_ip(addr.ip()),
            addr.port(),
        );
        if !config.permit_foreign_addresses && target.ip() != self.client_ip() {
            tracing::warn!(%target, "refused PORT to foreign address");
            return Err(Reply::new(
                501,
                format!("Rejected data connection to foreign address {target}."),
            )
            .into());
        }
        if !config.permit_privileged_ports && target.port() < FIRST_UNPRIVILEGED_PORT {
            return Err(Reply::new(
                501,
                format!(
                    "PORT against the privileged port \"{}\" refused.",
                    target.port()
                ),
            )
            .into());
        }
        self.data = DataSetup::Active(target);
        Ok(Reply::new(200, "PORT command successful."))
    }

    /// Checks that a transfer may start now: nothing else running, and a
    /// PORT or PASV given.
    pub(super) fn ready_for_transfer(&self) -> Result<()> {
        if self.running.is_some() {
            return Err(Reply::new(425, "A transfer is already in progress.").into());
        }
        if !self.data.is_set() {
            return Err(Reply::new(425, "Use PORT or PASV first.").into());
        }
        let anonymous = self.user_ref()?.account.anonymous;
        if let Some(refusal) = self.data_needs_tls(anonymous) {
            return Err(refusal.into());
        }
        Ok(())
    }

    /// Sends the 150 reply and starts `job` on the prepared data connection.
    pub(super) async fn start_transfer(
        &mut self,
        kind: TransferKind,
        path: Option<VirtualPath>,
        job: Job,
        stou_name: Option<&[u8]>,
    ) -> Flow {
        let config = &self.shared.config;
        let params = ConnectParams {
            client_ip: self.client_ip(),
            local_ip: self.local_ip,
            permit_foreign: config.permit_foreign_addresses,
            accept_timeout: config.passive_accept_timeout,
            connect_timeout: config.active_connect_timeout,
            stall_timeout: config.data_timeout,
            proxy: self.proxied.then(|| config.proxy.clone()),
        };
        let setup = self.take_data_setup().await;
        // 125 when the data connection is already there, 150 when it is
        // yet to be made (RFC 959 §5.4).
        let connected = matches!(setup, DataSetup::Connected(_));
        let preliminary = match (stou_name, connected) {
            (Some(name), _) => {
                let mut text = b"FILE: ".to_vec();
                text.extend_from_slice(name);
                Reply::new(if connected { 125 } else { 150 }, text)
            }
            (None, true) => Reply::new(125, "Data connection already open. Transfer starting."),
            (None, false) => Reply::new(150, "File status okay. About to open data connection."),
        };
        if self.reply(preliminary).await == Flow::Close {
            return Flow::Close;
        }
        let (owner, anonymous, real_path) = match self.user_ref() {
            Ok(u) => (
                u.account.username.clone(),
                u.account.anonymous,
                path.as_ref().and_then(|p| u.storage.real_path(p)),
            ),
            Err(_) => (String::new(), false, None),
        };
        let tls = self.data_tls();
        // A system user's transfer writes with the user's credentials.
        let identity = self
            .user_ref()
            .ok()
            .and_then(|u| u.account.identity.clone());
        let transfer = Transfer::start(setup, params, job, tls, identity, &self.shared.transfers);
        let active = self.shared.metrics.transfer_started(kind.direction());
        let shown = self.registration.transfer_started(
            kind,
            path.as_ref().map(|p| p.to_string_lossy()).as_deref(),
            transfer.bytes.clone(),
        );
        self.running = Some(Box::new(Running {
            transfer,
            kind,
            path,
            ascii: self.transfer_type == TransferType::Ascii,
            owner,
            anonymous,
            real_path,
            _active: active,
            _shown: shown,
        }));
        Flow::Continue
    }

    /// Takes the prepared data setup. A passive connection the client has
    /// already made is accepted now (without waiting), so the reply can say
    /// 125.
    async fn take_data_setup(&mut self) -> DataSetup {
        match std::mem::take(&mut self.data) {
            DataSetup::Passive(passive) => self.accept_waiting(passive),
            setup => setup,
        }
    }

    /// At the passive timeout with no transfer started: the connection the
    /// client made is kept, a listener nobody connected to is closed.
    pub(super) fn expire_passive(&mut self) {
        if let DataSetup::Passive(passive) = std::mem::take(&mut self.data) {
            self.data = match self.accept_waiting(passive) {
                DataSetup::Passive(_) => {
                    tracing::debug!("passive listener closed: no connection in time");
                    DataSetup::None
                }
                connected => connected,
            };
        }
    }

    /// The client's connection to `passive` if it has made it, else the
    /// listener back.
    fn accept_waiting(&self, passive: Box<PassiveListener>) -> DataSetup {
        if self.proxied {
            // A header to read first: the transfer task accepts.
            return DataSetup::Passive(passive);
        }
        // Straight from the kernel's accept queue, without waiting: the
        // runtime may not have seen the connection arrive yet.
        let ready =
            socket2::SockRef::from(&passive.listener)
                .accept()
                .and_then(|(socket, peer)| {
                    socket.set_nonblocking(true)?;
                    let peer = peer.as_socket().ok_or(std::io::ErrorKind::InvalidData)?;
                    Ok((tokio::net::TcpStream::from_std(socket.into())?, peer))
                });
        match ready {
            Ok((stream, peer))
                if ferroftpd_proto::address::canonical_ip(peer.ip()) == self.client_ip() =>
            {
                DataSetup::Connected(stream)
            }
            Ok((stream, _)) if self.shared.config.permit_foreign_addresses => {
                DataSetup::Connected(stream)
            }
            Ok((_, peer)) => {
                // Someone else got there first: refuse them, as the
                // transfer task would, and wait for the client.
                tracing::warn!(%peer, "rejected data connection from foreign address");
                DataSetup::Passive(passive)
            }
            _ => DataSetup::Passive(passive),
        }
    }

    pub(super) async fn retr(&mut self, arg: &[u8], pending: Pending) -> Flow {
        let job = self.prepare_retr(arg, pending).await;
        self.start_or_reply(TransferKind::Retr, job).await
    }

    async fn prepare_retr(&mut self, arg: &[u8], pending: Pending) -> Result<(VirtualPath, Job)> {
        let offset = restart_offset(&pending);
        let path = self.resolve_checked(arg, Permission::Retrieve)?;
        self.ready_for_transfer()?;
        self.guard(Operation::Download { path: &path }).await?;
        let storage = self.storage()?;
        let info = storage.metadata(&path).await?;
        if !info.is_file() {
            return Err(Reply::new(550, "Not a regular file.").into());
        }
        check_restart(offset, info.size)?;
        let reader = storage.open_read(&path, offset).await?;
        // ASCII conversion changes the count: no size then (and none left
        // from an earlier RETR that failed to start).
        let binary = self.transfer_type == TransferType::Binary;
        self.registration
            .expect_size(if binary { info.size - offset } else { 0 });
        let job = Job::Download {
            reader,
            ascii: self.transfer_type == TransferType::Ascii,
            sendfile: self.shared.config.sendfile,
            throttle: self.user_ref()?.write_throttle.clone(),
        };
        Ok((path, job))
    }

    pub(super) async fn stor(&mut self, arg: &[u8], pending: Pending) -> Flow {
        let job = self.prepare_stor(arg, pending).await;
        self.start_or_reply(TransferKind::Stor, job).await
    }

    async fn prepare_stor(&mut self, arg: &[u8], pending: Pending) -> Result<(VirtualPath, Job)> {
        let mut path = self.resolve_entry(arg, Permission::Store)?;
        self.ready_for_transfer()?;
        let restart = matches!(pending, Pending::RestartAt(offset) if offset > 0);
        path = self.guard_upload(path, Permission::Store, restart).await?;
        let storage = self.storage()?;
        let mode = match pending {
            Pending::RestartAt(offset) if offset > 0 => {
                check_restart(offset, storage.metadata(&path).await?.size)?;
                WriteMode::At(offset)
            }
            _ => WriteMode::Replace,
        };
        let writer = storage.open_write(&path, mode).await?;
        let job = self.upload_job(writer, &path)?;
        Ok((path, job))
    }

    pub(super) async fn appe(&mut self, arg: &[u8], pending: Pending) -> Flow {
        let job = self.prepare_appe(arg, pending).await;
        self.start_or_reply(TransferKind::Appe, job).await
    }

    async fn prepare_appe(&mut self, arg: &[u8], pending: Pending) -> Result<(VirtualPath, Job)> {
        if let Pending::RestartAt(_) = pending {
            return Err(Reply::new(450, "Can't APPE while REST request is pending.").into());
        }
        let path = self.resolve_entry(arg, Permission::Append)?;
        self.ready_for_transfer()?;
        let path = self.guard_upload(path, Permission::Append, true).await?;
        let writer = self.storage()?.open_write(&path, WriteMode::Append).await?;
        let job = self.upload_job(writer, &path)?;
        Ok((path, job))
    }

    pub(super) async fn stou(&mut self, hint: Option<&[u8]>, pending: Pending) -> Flow {
        match self.prepare_stou(hint, pending).await {
            Ok((path, job)) => {
                let name = path.file_name().unwrap_or_default().to_vec();
                self.start_transfer(TransferKind::Stou, Some(path), job, Some(&name))
                    .await
            }
            Err(e) => self.reply(e.reply()).await,
        }
    }

    async fn prepare_stou(
        &mut self,
        hint: Option<&[u8]>,
        pending: Pending,
    ) -> Result<(VirtualPath, Job)> {
        if let Pending::RestartAt(_) = pending {
            return Err(Reply::new(450, "Can't STOU while REST request is pending.").into());
        }
        let (dir, prefix) = match hint {
            Some(h) => {
                let wanted = self.resolve(h)?;
                let prefix = wanted.file_name().unwrap_or(b"ftpd").to_vec();
                (wanted.parent().unwrap_or_else(VirtualPath::root), prefix)
            }
            None => (self.user_ref()?.cwd.clone(), b"ftpd".to_vec()),
        };
        // The new file is a new entry of `dir` (named `<prefix>.XXXXXXXX`),
        // so it needs the permission there, not on a path named like the
        // hint: `STOU /upload` creates `/upload.XXXXXXXX` in `/`.
        self.check_in(Permission::Store, &dir)?;
        self.ready_for_transfer()?;
        let operation = Operation::Upload {
            path: &dir,
            append: false,
        };
        if self.guard(operation).await?.is_some() {
            return Err(Reply::new(550, "STOU cannot be redirected.").into());
        }
        let (path, writer) = self.storage()?.create_unique(&dir, &prefix).await?;
        // An authorizer's own `permits` has its say on the name made.
        if let Err(e) = self.check(Permission::Store, &path) {
            writer.discard();
            return Err(e);
        }
        let job = self.upload_job(writer, &path)?;
        Ok((path, job))
    }

    /// Asks the guard about an upload to `path`; a redirected upload goes
    /// through the permission checks again at its new path.
    async fn guard_upload(
        &self,
        path: VirtualPath,
        perm: Permission,
        append: bool,
    ) -> Result<VirtualPath> {
        let operation = Operation::Upload {
            path: &path,
            append,
        };
        match self.guard(operation).await? {
            None => Ok(path),
            Some(target) => {
                tracing::info!(from = %path, to = %target, "upload redirected by the guard");
                self.resolve_entry(target.as_bytes(), perm)
            }
        }
    }

    fn upload_job(
        &self,
        writer: Box<dyn crate::storage::FileWriter>,
        path: &VirtualPath,
    ) -> Result<Job> {
        let user = self.user_ref()?;
        let commit_check = self.shared.config.guard.as_ref().map(|guard| {
            Box::new(crate::guard::CommitCheck {
                guard: guard.clone(),
                runtime: tokio::runtime::Handle::current(),
                session_id: self.id,
                client: self.peer,
                account: user.account.clone(),
                path: path.clone(),
            })
        });
        Ok(Job::Upload {
            writer,
            ascii: self.transfer_type == TransferType::Ascii,
            throttle: user.read_throttle.clone(),
            commit_check,
            control: self.control.probe(),
        })
    }

    async fn start_or_reply(
        &mut self,
        kind: TransferKind,
        prepared: Result<(VirtualPath, Job)>,
    ) -> Flow {
        match prepared {
            Ok((path, job)) => self.start_transfer(kind, Some(path), job, None).await,
            Err(e) => self.reply(e.reply()).await,
        }
    }

    pub(super) async fn abor(&mut self) -> Flow {
        let Some(mut running) = self.running.take() else {
            let reply = if self.data.is_set() {
                self.data = DataSetup::None;
                Reply::new(225, "ABOR command successful; data channel closed.")
            } else {
                Reply::new(225, "No transfer to abort.")
            };
            return self.reply(reply).await;
        };
        running.transfer.abort();
        let outcome = running.transfer.finished().await;
        // The aborted transfer's own reply comes first (426, or 226 if it
        // had just completed), then ABOR's (RFC 959 §4.1.3).
        let flow = self.report_transfer(*running, outcome).await;
        if flow == Flow::Close {
            return flow;
        }
        self.reply(Reply::new(226, "ABOR command successful."))
            .await
    }

    /// Called by the session loop when the running transfer ends.
    pub(super) async fn finish_transfer(&mut self, outcome: Outcome) -> Flow {
        let Some(running) = self.running.take() else {
            return Flow::Continue;
        };
        // The idle timeout counts from the end of the transfer, not from
        // the command that started it.
        self.last_command_at = tokio::time::Instant::now();
        let flow = self.report_transfer(*running, outcome).await;
        if self.quit_after_transfer {
            self.send_goodbye().await;
            return Flow::Close;
        }
        flow
    }

    async fn report_transfer(&mut self, running: Running, outcome: Outcome) -> Flow {
        let bytes = running.transfer.bytes();
        let took = running.transfer.started.elapsed();
        let seconds = took.as_secs_f64();
        let completed = matches!(outcome, Outcome::Complete);
        let direction = running.kind.direction();
        let result = TransferOutcome::from(&outcome);
        self.shared.metrics.transfer(direction, result, bytes, took);
        if let (true, Some(path)) = (self.has_hooks(), &running.path) {
            let upload_failed = direction == Direction::Upload && !completed;
            let file = FileEvent {
                path: path.clone(),
                real_path: running.real_path.clone(),
                bytes,
                remains: upload_failed
                    .then(|| running.transfer.remains().unwrap_or(Remains::Unknown)),
            };
            let event = match (running.kind.direction(), completed) {
                (Direction::Download, true) => Some(HookEvent::FileSent(file)),
                (Direction::Download, false) => Some(HookEvent::IncompleteFileSent(file)),
                (Direction::Upload, true) => Some(HookEvent::FileReceived(file)),
                (Direction::Upload, false) => Some(HookEvent::IncompleteFileReceived(file)),
                (Direction::Listing, _) => None,
            };
            if let Some(event) = event {
                self.hook_as(event, Some(&running.owner));
            }
        }
        if let Some(path) = &running.path {
            // One field each, for JSON logs; the verb is the message.
            tracing::info!(
                path = %path,
                bytes,
                duration_seconds = seconds,
                direction = direction.label(),
                outcome = result.label(),
                user = running.owner.as_str(),
                client = %self.client_ip(),
                "{}",
                running.kind.verb(),
            );
            self.xferlog(&running, path, completed, bytes, seconds);
        }
        let reply = crate::error::transfer_reply(outcome, bytes);
        self.reply(reply).await
    }
}

impl Session {
    /// One line in the wu-ftpd xferlog(5) format, as an event of target
    /// `ferroftpd::xferlog` (the CLI's `--xferlog FILE` writes these lines
    /// to a file of their own).
    fn xferlog(
        &self,
        running: &Running,
        path: &VirtualPath,
        completed: bool,
        bytes: u64,
        seconds: f64,
    ) {
        if !tracing::enabled!(target: "ferroftpd::xferlog", tracing::Level::INFO) {
            return;
        }
        let file = running
            .real_path
            .as_ref()
            .map_or_else(|| path.to_string(), |p| p.to_string_lossy().into_owned())
            .replace(|c: char| c.is_whitespace(), "_");
        let line = format!(
            "{} {} {} {} {} {} _ {} {} {} ftp 0 * {}",
            chrono::Local::now().format("%a %b %e %H:%M:%S %Y"),
            seconds.round() as u64,
            self.client_ip(),
            bytes,
            file,
            if running.ascii { 'a' } else { 'b' },
            if running.kind.direction() == Direction::Download {
                'o'
            } else {
                'i'
            },
            if running.anonymous { 'a' } else { 'r' },
            running.owner.replace(|c: char| c.is_whitespace(), "_"),
            if completed { 'c' } else { 'i' },
        );
        tracing::info!(target: "ferroftpd::xferlog", "{line}");
    }
}

/// A REST offset must lie within the file (554 otherwise, RFC 1123).
fn check_restart(offset: u64, size: u64) -> Result<()> {
    if offset > size {
        return Err(Reply::new(
            554,
            format!("REST position ({offset}) > file size ({size})."),
        )
        .into());
    }
    Ok(())
}

fn restart_offset(pending: &Pending) -> u64 {
    match pending {
        Pending::RestartAt(offset) => *offset,
        _ => 0,
    }
}
