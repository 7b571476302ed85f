//! Log output: text (tracing's format, or pyftpdlib-style lines with a
//! prefix template), JSON lines, a log file, and the xferlog file.

use std::fmt;

use anyhow::{Context, Result};
use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::args::{Args, LogFormat, LogPrefix, PrefixPart, SessionField};

/// Logs go to standard error or `--log-file`, as text or JSON lines; the
/// transfer log (target `ferroftpd::xferlog`) goes to `--xferlog` alone.
pub fn init(args: &Args) -> Result<()> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;

    // --debug is about the FTP conversation: the libraries below (the S3
    // client's HTTP and signing) stay at info; RUST_LOG reaches them.
    let default = if args.debug {
        "info,ferroftpd=debug"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default))
        .add_directive("ferroftpd::xferlog=off".parse().context("log filter")?);
    let (writer, ansi) = match &args.log_file {
        Some(path) => (BoxMakeWriter::new(append(path)?), false),
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let main = match (args.log_format.unwrap_or(LogFormat::Text), &args.log_prefix) {
        (LogFormat::Text, Some(template)) => tracing_subscriber::fmt::layer()
            .event_format(PrefixFormat::new(template))
            .with_writer(writer)
            .with_ansi(false)
            .boxed(),
        (LogFormat::Text, None) => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        (LogFormat::Json, _) => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    let xferlog = match &args.xferlog {
        Some(path) => Some(
            tracing_subscriber::fmt::layer()
                .event_format(MessageOnly)
                .with_writer(append(path)?)
                .with_filter(
                    Targets::new().with_target("ferroftpd::xferlog", tracing::Level::INFO),
                ),
        ),
        None => None,
    };
    tracing_subscriber::registry()
        .with(SessionFieldsLayer)
        .with(main.with_filter(filter))
        .with(xferlog)
        .init();
    Ok(())
}

/// A log file opened for appending, shared by the log writers.
fn append(path: &std::path::Path) -> Result<std::sync::Arc<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("log file {}", path.display()))?;
    Ok(std::sync::Arc::new(file))
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
