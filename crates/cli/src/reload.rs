//! SIGHUP: the settings read again from the command line, the
//! environment and the config file, applied to the running server whole
//! or not at all.
//!
//! What a reload changes: users (and the users file), permissions, homes
//! within the sandbox, limits, timeouts, bans, bandwidth, the banner, the
//! TLS certificate and key, the TLS policies, `--nat-address` (a name is
//! resolved again) and the log level, format and prefix. Sessions that
//! connect afterwards get the new settings; sessions already connected
//! keep theirs to the end. The log files are reopened by name in any
//! case, after logrotate. Options read at startup only are listed in
//! [`startup_only`]; a change to one is logged and waits for a restart.

use std::ffi::OsString;

use anyhow::{bail, Result};
use ferroftpd::sandbox::{Access, Sandbox};

use crate::args::Args;
use crate::layers;
use crate::logging;
use crate::settings::{self, Settings};

/// What a reload starts from.
pub struct Reloader {
    argv: Vec<OsString>,
    /// The options that run now.
    args: Args,
    settings: Settings,
    sandbox: Option<Sandbox>,
    log: logging::Handle,
}

impl Reloader {
    pub fn new(
        argv: Vec<OsString>,
        args: Args,
        settings: Settings,
        sandbox: Option<Sandbox>,
        log: logging::Handle,
    ) -> Self {
        Reloader {
            argv,
            args,
            settings,
            sandbox,
            log,
        }
    }

    /// Reopens the log files, then reads and applies the settings. On
    /// error the old settings stay, and the error says why.
    pub fn reload(&mut self) -> Result<()> {
        if let Err(e) = self.log.reopen() {
            tracing::error!("log files not reopened: {e:#}");
        }
        let mut parsed =
            match layers::parse(self.argv.iter().cloned(), |name| std::env::var_os(name)) {
                Ok(parsed) => parsed,
                Err(layers::Error::Invalid(text)) => bail!("{text}"),
                Err(layers::Error::Clap(e)) => {
                    let text = e.to_string();
                    let line = text.lines().next().unwrap_or_default();
                    bail!("{}", line.trim_start_matches("error: "))
                }
            };
        for option in startup_only(&self.args, &mut parsed.args) {
            tracing::warn!(
                "{option}: changed; read at startup only, so it applies at the next start"
            );
        }
        // Errors name the variable or config file line, as at startup.
        let plan = settings::plan(&parsed.args, Some(&self.settings))
            .map_err(|e| anyhow::anyhow!(parsed.locate(&format!("{e:#}"))))?;
        if let Some(sandbox) = &self.sandbox {
            for (root, write) in &plan.roots {
                let access = if *write {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                if !sandbox.allows(root, access) {
                    bail!(
                        "{}: outside what the sandbox made at startup allows{}; \
                         restart the server to serve it",
                        root.display(),
                        if *write { " for writing" } else { "" }
                    );
                }
            }
            if let Some(users) = &plan.users_file {
                crate::sandbox::check_homes(sandbox, users.path());
            }
        }
        self.log.check(&parsed.args)?;
        let users = plan.users_file.clone();
        let roots = plan.roots.clone();
        self.settings.server.reconfigure(plan.builder)?;
        self.settings.users_file = users;
        self.settings.roots = roots;
        if let Err(e) = self.log.apply(&parsed.args) {
            tracing::error!("log settings not applied: {e:#}");
        }
        if let Some(users) = &self.settings.users_file {
            tracing::info!(
                file = %users.path().display(),
                users = users.len(),
                "users file reloaded"
            );
        }
        self.args = parsed.args;
        Ok(())
    }
}

/// Puts back in `new` the options of `old` that are read at startup only,
/// and names those that differed. These bind sockets, open files before
/// the sandbox, shape the sandbox, or make storage whose contents a new
/// one would not have. `--max-cons` may go down but not up: the thread
/// pool was sized for it at startup.
fn startup_only(old: &Args, new: &mut Args) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident => $flag:literal),* $(,)?) => {$(
            if old.$field != new.$field {
                new.$field = old.$field.clone();
                changed.push($flag);
            }
        )*};
    }
    keep!(
        interface => "--interface",
        port => "--port",
        tls => "--tls",
        tls_self_signed => "--tls-self-signed",
        tls_implicit_port => "--tls-implicit-port",
        metrics_address => "--metrics-address",
        admin_address => "--admin-address",
        admin_token_file => "--admin-token-file",
        no_sandbox => "--no-sandbox",
        system_users => "--system-users",
        // Only a process that serves one session may become its user.
        isolate_sessions => "--isolate-sessions",
        users_file => "--users",
        storage => "--storage",
        memory_size => "--memory-size",
        s3_endpoint => "--s3-endpoint",
        s3_region => "--s3-region",
        s3_virtual_host => "--s3-virtual-host",
        s3_part_size => "--s3-part-size",
        log_file => "--log-file",
        xferlog => "--xferlog",
        syslog => "--syslog",
        syslog_socket => "--syslog-socket",
        pidfile => "--pidfile",
        concurrency => "--concurrency",
        // The sandbox lets the server bind these ports only.
        range => "--range",
        // Bans and failures are recorded per network of this size.
        ban_ipv6_prefix => "--ban-ipv6-prefix",
        threads => "--threads",
        workers => "--workers",
        cluster_redis => "--cluster-redis",
        run_as => "--run-as",
    );
    let max = |args: &Args| args.max_cons.unwrap_or(ferroftpd::DEFAULT_MAX_CONNECTIONS);
    if max(new) > max(old) {
        new.max_cons = old.max_cons;
        changed.push("--max-cons (raised)");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Args {
        layers::parse(
            std::iter::once("ferroftpd").chain(argv.iter().copied()),
            |_| None,
        )
        .unwrap()
        .args
    }

    #[test]
    fn startup_only_options_keep_their_old_values() {
        let old = args(&["-p", "2121", "--max-cons", "100", "--banner", "old"]);
        let mut new = args(&["-p", "2200", "--max-cons", "50", "--banner", "new"]);
        assert_eq!(startup_only(&old, &mut new), ["--port"]);
        assert_eq!(new.port, Some(2121));
        assert_eq!(new.max_cons, Some(50));
        assert_eq!(new.banner.as_deref(), Some("new"));
        let mut raised = args(&["-p", "2121", "--max-cons", "200"]);
        assert_eq!(startup_only(&old, &mut raised), ["--max-cons (raised)"]);
        assert_eq!(raised.max_cons, Some(100));
        // A reload cannot make a server's one process become each user.
        let mut isolated = args(&["-p", "2121", "--max-cons", "100", "--isolate-sessions"]);
        assert_eq!(startup_only(&old, &mut isolated), ["--isolate-sessions"]);
        assert!(!isolated.isolate_sessions);
    }
}
