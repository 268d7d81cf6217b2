//! Differential test: every line of `tests/cases/acl.txt` runs against a real
//! redis-server 7.0 and through this crate; the replies must be equal (after the few
//! normalisations the case file names, for what legitimately differs: hash-table order,
//! random passwords, log ages and client descriptions).
//!
//! Method: one RESP3 connection to `redis-server --port 24001`; each reply is parsed into a
//! tree, and the crate's `Value` is encoded with `resp::encode` and parsed the same way.
//! Skips, saying so, when `redis-server` is not installed.

use std::io::{BufRead, BufReader, Write};

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acl::{classify, commands, Acl, AclCommand, AclLog, DeniedReason, LogContext, LogEvent};
use bytes::Bytes;
use resp::{Protocol, Value};

const PORT: u16 = 24001;

/// A parsed RESP3 reply. Maps keep their order; `normalise` sorts where asked.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// Lossy UTF-8, so failures print readably (no case needs binary).
    Bulk(String),
    Null,
    Double(String),
    Boolean(bool),
    Array(Vec<Reply>),
    Set(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a reply line");
    assert!(line.ends_with("\r\n"), "truncated reply line {line:?}");
    line.truncate(line.len() - 2);
    line
}

fn parse(reader: &mut impl BufRead) -> Reply {
    let line = read_line(reader);
    let (kind, rest) = line.split_at(1);
    let number = || rest.parse::<i64>().expect("a length");
    let count = || usize::try_from(number()).expect("a count");
    match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(number()),
        "_" => Reply::Null,
        "," => Reply::Double(rest.to_owned()),
        "#" => Reply::Boolean(rest == "t"),
        "$" | "=" if rest == "-1" => Reply::Null,
        "$" | "=" => {
            let mut body = vec![0; count() + 2];
            reader.read_exact(&mut body).expect("read a bulk");
            body.truncate(body.len() - 2);
            Reply::Bulk(String::from_utf8_lossy(&body).into_owned())
        }
        "*" if rest == "-1" => Reply::Null,
        "*" => Reply::Array((0..count()).map(|_| parse(reader)).collect()),
        "~" => Reply::Set((0..count()).map(|_| parse(reader)).collect()),
        "%" => Reply::Map(
            (0..count())
                .map(|_| (parse(reader), parse(reader)))
                .collect(),
        ),
        _ => panic!("unexpected reply line {line:?}"),
    }
}

fn from_value(value: &Value) -> Reply {
    let mut bytes = bytes::BytesMut::new();
    resp::encode(value, Protocol::Resp3, &mut bytes);
    parse(&mut BufReader::new(&bytes[..]))
}

/// Sorts the `+cmd` / `-cmd` tokens of an ACL rule string among their own positions:
/// Redis emits them in its command hash table's order.
/// Tokens naming ninesdb's own commands (`+ninesdb|req`) are dropped: Redis has none.
fn sort_rule_tokens(text: &[u8]) -> Vec<u8> {
    let ours = |t: &[u8]| t.len() > 1 && t[1..].starts_with(b"ninesdb");
    let tokens: Vec<&[u8]> = text.split(|&c| c == b' ').filter(|t| !ours(t)).collect();
    let single = |t: &[u8]| t.len() > 1 && (t[0] == b'+' || t[0] == b'-') && t[1] != b'@';
    let mut sorted: Vec<&[u8]> = tokens.iter().copied().filter(|t| single(t)).collect();
    sorted.sort();
    let mut next = sorted.into_iter();
    let rebuilt: Vec<&[u8]> = tokens
        .iter()
        .map(|t| {
            if single(t) {
                next.next().expect("same count")
            } else {
                *t
            }
        })
        .collect();
    rebuilt.join(&b' ')
}

fn normalise(reply: Reply, mode: &str, depth: usize) -> Reply {
    let deep = mode == "unordered";
    let sort_here = (mode == "sort" && depth == 0) || deep;
    let recurse = |r: Reply| normalise(r, mode, depth + 1);
    match reply {
        Reply::Bulk(text) => {
            Reply::Bulk(String::from_utf8_lossy(&sort_rule_tokens(text.as_bytes())).into_owned())
        }
        Reply::Array(items) | Reply::Set(items) if sort_here => {
            // ninesdb's own commands are in its categories; Redis has none of them.
            let ours = |r: &Reply| matches!(r, Reply::Bulk(name) if name.starts_with("ninesdb|"));
            let mut items: Vec<Reply> = items
                .into_iter()
                .filter(|r| !ours(r))
                .map(recurse)
                .collect();
            items.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            Reply::Array(items)
        }
        Reply::Array(items) => Reply::Array(items.into_iter().map(recurse).collect()),
        Reply::Set(items) => Reply::Set(items.into_iter().map(recurse).collect()),
        Reply::Map(pairs) => {
            let mut pairs: Vec<(Reply, Reply)> = pairs
                .into_iter()
                .map(|(k, v)| {
                    let key = format!("{k:?}");
                    let v = match (mode, key.as_str()) {
                        // ACL LOG: the age and the client differ between the two sides.
                        ("log", "Bulk(\"age-seconds\")" | "Bulk(\"client-info\")") => Reply::Null,
                        _ => v,
                    };
                    (recurse(k), recurse(v))
                })
                .collect();
            if deep {
                pairs.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
            }
            Reply::Map(pairs)
        }
        other => other,
    }
}

/// GENPASS: random hex of the asked length; keep only the length and whether it is hex.
fn normalise_genpass(reply: Reply) -> Reply {
    match reply {
        Reply::Bulk(text) => Reply::Simple(format!(
            "{} hex={}",
            text.len(),
            text.bytes().all(|c| c.is_ascii_hexdigit())
        )),
        other => other,
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<(Server, TcpStream)> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &PORT.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A server that exited could not bind: whatever listens there is not ours.
        let exited = server.0.try_wait().expect("poll redis-server");
        assert!(
            exited.is_none(),
            "redis-server exited ({exited:?}): is port {PORT} taken?"
        );
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", PORT)) {
            return Some((server, stream));
        }
        assert!(
            Instant::now() < deadline,
            "redis-server did not listen on {PORT}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The crate's side: what a server built on it would answer.
struct Local {
    acl: Acl,
    log: AclLog,
    user: Bytes,
}

impl Local {
    fn run(&mut self, args: &[Bytes]) -> Value {
        let visible = |meta: &commands::CommandMeta| !meta.name.starts_with("ninesdb");
        let name = args[0].to_ascii_lowercase();
        let sub = args
            .get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        match (name.as_slice(), sub.as_slice()) {
            (b"acl", _) => match classify(args) {
                AclCommand::Apply => self.acl.apply(args),
                AclCommand::Read => self.acl.read(args, &self.user),
                AclCommand::Log => self.log.command(args, 0),
                AclCommand::Genpass => acl::genpass(args, &[7; acl::limits::GENPASS_RANDOM_BYTES]),
                AclCommand::Error(error) => error,
            },
            (b"auth", _) => match self.acl.auth(args) {
                Ok(user) => {
                    self.user = user;
                    Value::Simple("OK".to_owned())
                }
                Err(error) => {
                    if let Some(username) = error.log_username {
                        let event = LogEvent {
                            reason: DeniedReason::Auth,
                            context: LogContext::Toplevel,
                            object: args[0].clone(),
                            username,
                            client_info: Bytes::new(),
                        };
                        self.log.record(event, 0);
                    }
                    error.reply
                }
            },
            (b"command", b"info") => commands::command_info(&args[2..], &visible),
            (b"command", b"docs") => commands::command_docs(&args[2..], &visible),
            (b"command", b"count") => commands::command_count(&visible),
            (b"command", b"list") => commands::command_list(&args[2..], &visible),
            _ => panic!("the case file runs a command this test does not route: {args:?}"),
        }
    }
}

fn send(writer: &mut TcpStream, args: &[Bytes]) {
    let mut out = bytes::BytesMut::new();
    resp::encode_command(args, &mut out);
    writer.write_all(&out).expect("send a command");
}

#[test]
fn acl_cases_match_redis() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: redis-server is not installed; the ACL differential test did not run");
        return;
    }
    let (server, stream) = start_redis().expect("start redis-server");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    send(
        &mut writer,
        &[Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")],
    );
    let _ = parse(&mut reader);
    // Make sure the server answering is the one this test started.
    send(
        &mut writer,
        &[Bytes::from_static(b"INFO"), Bytes::from_static(b"server")],
    );
    let Reply::Bulk(info) = parse(&mut reader) else {
        panic!("INFO did not answer a bulk")
    };
    let pid = format!("process_id:{}", server.0.id());
    assert!(
        info.lines().any(|l| l == pid),
        "port {PORT} answers another redis-server"
    );

    let mut local = Local {
        acl: Acl::new(),
        log: AclLog::default(),
        user: Bytes::from_static(b"default"),
    };
    let cases = include_str!("cases/acl.txt");
    let (mut compared, mut failures) = (0, Vec::new());
    for (number, line) in cases.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, command) = match line.split_once(": ") {
            Some((mode, command)) if ["sort", "unordered", "genpass", "log"].contains(&mode) => {
                (mode, command)
            }
            _ => ("exact", line),
        };
        let args = resp::split_args(command.as_bytes()).expect("a well-quoted case line");
        send(&mut writer, &args);
        let theirs = parse(&mut reader);
        let ours = from_value(&local.run(&args));
        let (theirs, ours) = if mode == "genpass" {
            (normalise_genpass(theirs), normalise_genpass(ours))
        } else {
            (normalise(theirs, mode, 0), normalise(ours, mode, 0))
        };
        compared += 1;
        if theirs != ours {
            failures.push(format!(
                "line {}: {line}\n  redis: {theirs:?}\n  ours:  {ours:?}",
                number + 1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{compared} ACL cases equal to redis-server's replies");
}
