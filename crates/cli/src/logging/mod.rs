//! Log output: text (tracing's format, or pyftpdlib-style lines with a
//! prefix template), JSON lines, a log file, and the xferlog file.

mod output;

use std::fmt;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context as LayerContext, Layered};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::args::{Args, LogFormat, LogPrefix, PrefixPart, SessionField};
use output::Output;

/// The subscriber under the output layers.
type Base = Layered<SessionFieldsLayer, Registry>;

/// What a reload may change in the logs: the level (`--debug`), the
/// format and prefix, and the files (reopened by name).
pub struct Handle {
    text_filter: reload::Handle<EnvFilter, Base>,
    json_filter: reload::Handle<EnvFilter, Base>,
    prefix: Arc<RwLock<Option<PrefixFormat>>>,
    /// The main output and the xferlog file's, reopened on reload.
    outputs: Vec<Output>,
}

/// Logs go to standard error, `--log-file` or syslog (`--syslog`), as text
/// or JSON lines; the transfer log (target `ferroftpd::xferlog`) goes to
/// `--xferlog` alone. Both formats have a layer; the filter of the one
/// not in use lets nothing through, so that a reload can switch.
pub fn init(args: &Args) -> Result<Handle> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;

    let (output, ansi) = match (&args.log_file, args.syslog) {
        (Some(_), true) => anyhow::bail!("--log-file and --syslog exclude each other"),
        (Some(path), false) => (Output::file(path)?, false),
        (None, true) => {
            let socket = args
                .syslog_socket
                .as_deref()
                .unwrap_or(std::path::Path::new(DEFAULT_SYSLOG_SOCKET));
            (Output::syslog(socket)?, false)
        }
        (None, false) => (
            Output::Stderr,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    if args.syslog_socket.is_some() && !args.syslog {
        anyhow::bail!("--syslog-socket needs --syslog");
    }
    let (text_filter, json_filter) = filters(args)?;
    let (text_filter, text_handle) = reload::Layer::new(text_filter);
    let (json_filter, json_handle) = reload::Layer::new(json_filter);
    let prefix = Arc::new(RwLock::new(args.log_prefix.as_ref().map(PrefixFormat::new)));
    let text = tracing_subscriber::fmt::layer()
        .event_format(TextFormat {
            prefix: prefix.clone(),
            full: Format::default(),
            // syslog stamps its own time.
            timeless: args.syslog,
        })
        .with_writer(output.clone())
        .with_ansi(ansi)
        .with_filter(text_filter);
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(output.clone())
        .with_filter(json_filter);
    let mut outputs = vec![output];
    let xferlog = match &args.xferlog {
        Some(path) => {
            let file = Output::file(path)?;
            outputs.push(file.clone());
            Some(
                tracing_subscriber::fmt::layer()
                    .event_format(MessageOnly)
                    .with_writer(file)
                    .with_filter(
                        Targets::new().with_target("ferroftpd::xferlog", tracing::Level::INFO),
                    ),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(SessionFieldsLayer)
        // Side by side, so that both filters have the same subscriber below.
        .with(vec![text.boxed(), json.boxed()])
        .with(xferlog)
        .init();
    Ok(Handle {
        text_filter: text_handle,
        json_filter: json_handle,
        prefix,
        outputs,
    })
}

/// Where `--syslog` sends lines unless `--syslog-socket` says otherwise.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// The filters of the text and the JSON layer: the one of `--log-format`
/// lets through what `--debug` (or `RUST_LOG`) asks, the other nothing.
fn filters(args: &Args) -> Result<(EnvFilter, EnvFilter)> {
    // --debug is about the FTP conversation: the libraries below (the S3
    // client's HTTP and signing) stay at info; RUST_LOG reaches them.
    let default = if args.debug {
        "info,ferroftpd=debug"
    } else {
        "info"
    };
    let active = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default))
        .add_directive("ferroftpd::xferlog=off".parse().context("log filter")?);
    let off = EnvFilter::new("off");
    Ok(match args.log_format.unwrap_or(LogFormat::Text) {
        LogFormat::Text => (active, off),
        LogFormat::Json => (off, active),
    })
}

impl Handle {
    /// Opens the log files again by name: after logrotate has renamed
    /// them, lines go to new files.
    /// Each file is tried, whatever happens to the others.
    pub fn reopen(&self) -> Result<()> {
        let errors: Vec<String> = self
            .outputs
            .iter()
            .filter_map(|output| output.reopen().err())
            .map(|e| format!("{e:#}"))
            .collect();
        match errors.is_empty() {
            true => Ok(()),
            false => anyhow::bail!("{}", errors.join("; ")),
        }
    }

    /// Checks that [`Self::apply`] would take `args`, changing nothing.
    pub fn check(&self, args: &Args) -> Result<()> {
        filters(args).map(drop)
    }

    /// Applies the level, format and prefix of `args`. Where the logs go
    /// (file, syslog, standard error) is read at startup only.
    pub fn apply(&self, args: &Args) -> Result<()> {
        let (text, json) = filters(args)?;
        self.text_filter
            .reload(text)
            .context("reloading the log filter")?;
        self.json_filter
            .reload(json)
            .context("reloading the log filter")?;
        *self.prefix.write().unwrap_or_else(|e| e.into_inner()) =
            args.log_prefix.as_ref().map(PrefixFormat::new);
        Ok(())
    }
}

/// The text format: tracing's own, or pyftpdlib-style lines with
/// `--log-prefix`; either can change on reload.
struct TextFormat {
    prefix: Arc<RwLock<Option<PrefixFormat>>>,
    full: Format<Full>,
    timeless: bool,
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let prefix = self.prefix.read().unwrap_or_else(|e| e.into_inner());
        match (&*prefix, self.timeless) {
            (Some(prefix), _) => prefix.format_event(ctx, writer, event),
            (None, false) => self.full.format_event(ctx, writer, event),
            (None, true) => self
                .full
                .clone()
                .without_time()
                .format_event(ctx, writer, event),
        }
    }
}

/// Formats an event as its message alone (xferlog lines).
struct MessageOnly;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for MessageOnly
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The fields of a `session` span, kept for the prefix template.
#[derive(Debug, Default, Clone)]
struct SessionFields {
    id: String,
    ip: String,
    port: String,
    user: String,
}

impl Visit for SessionFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.id = value.to_string();
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "user" {
            self.user = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "peer" => {
                let (ip, port) = text.rsplit_once(':').unwrap_or((&text, ""));
                self.ip = ip.trim_start_matches('[').trim_end_matches(']').to_owned();
                self.port = port.to_owned();
            }
            "user" => self.user = text.trim_matches('"').to_owned(),
            "id" => self.id = text,
            _ => {}
        }
    }
}

/// Keeps [`SessionFields`] in the extensions of every `session` span.
struct SessionFieldsLayer;

impl<S> Layer<S> for SessionFieldsLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        if attrs.metadata().name() != "session" {
            return;
        }
        let mut fields = SessionFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SessionFields>() {
                values.record(fields);
            }
        }
    }
}

/// pyftpdlib-style lines: `[I 2026-11-22 05:22:09] 127.0.0.1:50532-[bob] message`,
/// the part after the time made from the `--log-prefix` template.
struct PrefixFormat {
    template: LogPrefix,
}

impl PrefixFormat {
    fn new(template: &LogPrefix) -> Self {
        PrefixFormat {
            template: template.clone(),
        }
    }

    fn prefix(&self, f: &SessionFields) -> String {
        let mut out = String::new();
        for part in self.template.parts() {
            out.push_str(match part {
                PrefixPart::Text(text) => text,
                PrefixPart::Field(SessionField::Ip) => &f.ip,
                PrefixPart::Field(SessionField::Port) => &f.port,
                PrefixPart::Field(SessionField::User) => &f.user,
                PrefixPart::Field(SessionField::Id) => &f.id,
            });
        }
        out
    }
}

impl<S, N> FormatEvent<S, N> for PrefixFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => 'E',
            tracing::Level::WARN => 'W',
            tracing::Level::INFO => 'I',
            tracing::Level::DEBUG => 'D',
            tracing::Level::TRACE => 'T',
        };
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
        write!(writer, "[{level} {now}] ")?;
        let session = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<SessionFields>().cloned())
        });
        if let Some(fields) = session {
            write!(writer, "{} ", self.prefix(&fields))?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_templates() {
        let fields = SessionFields {
            id: "7".into(),
            ip: "::1".into(),
            port: "50532".into(),
            user: "bob".into(),
        };
        let cases = [
            ("{ip}:{port}-[{user}]", "::1:50532-[bob]"),
            ("#{id} {{{user}}}", "#7 {bob}"),
            ("plain", "plain"),
            ("", ""),
        ];
        for (template, expected) in cases {
            let format = PrefixFormat::new(&template.parse().unwrap());
            assert_eq!(format.prefix(&fields), expected, "{template}");
        }
    }
}
