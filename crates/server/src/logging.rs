//! Logs: every line a server writes is a `tracing` event, with a level (failures `warn` or
//! `error`, lifecycle `info`, per-message chatter `debug`), the crate's target (`server::peer`,
//! ...) and, where the call site knows them, `group` and `term` fields. This module installs
//! the process's subscriber (the `ninesdb` binary calls [`install`] once, before the server
//! starts) and writes one line per event to stderr:
//!
//! - text: `ninesdb[<node>] [LEVEL ]<message>[ key=value...]`, the level shown unless `INFO`
//!   (the look of the server's lines before levels existed);
//! - JSON: one object per line with `ts`, `level`, `target`, `node`, `message` and the
//!   event's fields (`group`, `term`, ...).
//!
//! The node id is on every line. It is kept per thread ([`enter_node`]: the server's runtime
//! threads and its node thread), not in a span: spans are filtered by level like events, so a
//! `node` span at `info` would vanish, and the id with it, under `--log-level warn`.

use std::cell::Cell;
use std::fmt::Debug;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people: `ninesdb[<node>] <message>`.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// The flag's value for this format.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected text or json, got {other}")),
        }
    }
}

/// What is logged: `--log-level` (a level, or `EnvFilter` directives such as
/// `server=debug,raft=info`); without it `RUST_LOG`; without either, `info`.
pub fn filter(level: Option<&str>) -> Result<EnvFilter, String> {
    let (directives, origin) = match level {
        Some(level) => (level.to_owned(), "--log-level"),
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => (directives, "RUST_LOG"),
            _ => ("info".to_owned(), "the default"),
        },
    };
    EnvFilter::try_new(&directives).map_err(|e| format!("{origin} {directives:?}: {e}"))
}

/// Installs the process's subscriber: stderr, one line per event. Fails on bad directives or
/// when a subscriber is already installed.
pub fn install(level: Option<&str>, format: LogFormat) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(filter(level)?)
        .with_writer(std::io::stderr)
        .event_format(Lines(format))
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

thread_local! {
    /// The node whose work this thread does (one server per runtime; tests may run several
    /// in one process, each on its own threads).
    static NODE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Marks this thread's events as node `id`'s until the thread ends.
pub fn enter_node(id: u64) {
    NODE.with(|node| node.set(Some(id)));
}

/// The node this thread works for, if any.
pub fn current_node() -> Option<u64> {
    NODE.with(Cell::get)
}

/// The event formatter of both formats.
struct Lines(LogFormat);

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Map::new();
        event.record(&mut Collect(&mut fields));
        let metadata = event.metadata();
        let line = match self.0 {
            LogFormat::Text => text_line(current_node(), *metadata.level(), fields),
            LogFormat::Json => {
                let mut ts = String::new();
                SystemTime.format_time(&mut Writer::new(&mut ts))?;
                json_line(
                    &ts,
                    current_node(),
                    *metadata.level(),
                    metadata.target(),
                    fields,
                )
            }
        };
        writeln!(writer, "{line}")
    }
}

/// Fields that messages name in words (`group 3: node 2 leads (term 5)`): in text lines they
/// are not repeated after the message.
const NAMED_IN_MESSAGES: [&str; 4] = ["group", "term", "leader", "peer"];

/// `ninesdb[<node>] [LEVEL ]<message>[ key=value...]`.
fn text_line(node: Option<u64>, level: Level, mut fields: Map<String, Value>) -> String {
    let mut line = node.map_or_else(|| "ninesdb:".to_owned(), |id| format!("ninesdb[{id}]"));
    if level != Level::INFO {
        line.push(' ');
        line.push_str(level.as_str());
    }
    if let Some(message) = fields.remove("message") {
        line.push(' ');
        line.push_str(&plain(&message));
    }
    for (key, value) in &fields {
        if !NAMED_IN_MESSAGES.contains(&key.as_str()) {
            line.push_str(&format!(" {key}={}", plain(value)));
        }
    }
    line
}

/// One JSON object: `ts`, `level`, `target`, `node` (when known), then the event's fields.
fn json_line(
    ts: &str,
    node: Option<u64>,
    level: Level,
    target: &str,
    mut fields: Map<String, Value>,
) -> String {
    fields.insert("ts".to_owned(), Value::from(ts));
    fields.insert("level".to_owned(), Value::from(level.as_str()));
    fields.insert("target".to_owned(), Value::from(target));
    if let Some(id) = node {
        fields.insert("node".to_owned(), Value::from(id));
    }
    Value::Object(fields).to_string()
}

/// A string as itself, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Gathers an event's fields, numbers as numbers.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

/// The lines `f` logs on this thread, as text at `debug` and above (for tests).
#[cfg(test)]
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    use std::sync::{Arc, Mutex};
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("debug"))
        .with_writer(move || Sink(Arc::clone(&sink)))
        .event_format(Lines(LogFormat::Text))
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    (result, text.lines().map(str::to_owned).collect())
}

#[cfg(test)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: text lines keep the look tests and people read (`ninesdb[<id>] <message>`), with
    // the level only when it is not INFO and extra fields as key=value.
    #[test]
    fn text_lines_keep_the_old_look() {
        let fields = |pairs: &[(&str, Value)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<Map<_, _>>()
        };
        assert_eq!(
            text_line(
                Some(3),
                Level::INFO,
                fields(&[("message", "serving".into())])
            ),
            "ninesdb[3] serving"
        );
        assert_eq!(
            text_line(
                Some(3),
                Level::WARN,
                fields(&[
                    ("message", "group 2: lost".into()),
                    ("group", 2.into()),
                    ("term", 7.into()),
                    ("slot", 4.into())
                ])
            ),
            "ninesdb[3] WARN group 2: lost slot=4"
        );
        assert_eq!(
            text_line(None, Level::INFO, fields(&[("message", "hi".into())])),
            "ninesdb: hi"
        );
    }

    // Goal: a JSON line parses and carries level, target, node and the event's fields.
    #[test]
    fn json_lines_carry_the_fields() {
        let mut fields = Map::new();
        fields.insert("message".into(), "leads".into());
        fields.insert("group".into(), 5.into());
        let line = json_line("t", Some(2), Level::INFO, "server::driver", fields);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "INFO");
        assert_eq!(parsed["node"], 2);
        assert_eq!(parsed["group"], 5);
        assert_eq!(parsed["target"], "server::driver");
        assert_eq!(parsed["message"], "leads");
    }

    // Goal: events on a thread marked for a node carry its id; levels below the filter are
    // dropped; a bad directive is an error, not a silent default.
    #[test]
    fn capture_sees_the_node_and_the_filter_holds() {
        let ((), lines) = capture(|| {
            enter_node(9);
            tracing::info!(group = 1_u64, "group 1: hello");
            tracing::trace!("too chatty");
        });
        assert_eq!(lines, vec!["ninesdb[9] group 1: hello".to_owned()]);
        assert!(filter(Some("server=debug,raft=info")).is_ok());
        assert!(filter(Some("server=loud")).is_err());
    }
}
