//! Keyspace notifications (Redis's `notify-keyspace-events`, notify.c): the events a write
//! raises, with Redis's class and name for each (the `notifyKeyspaceEvent` calls of Redis
//! 7.0's t_*.c, db.c, expire.c, ...), collected while a command applies.
//!
//! The keyspace only records events ([`Keyspace::take_events`]); the host publishes them on
//! `__keyspace@0__:<key>` / `__keyevent@0__:<event>` to its own subscribers. Which classes
//! are recorded is the host's setting ([`Keyspace::set_notify_flags`]), not replicated state:
//! like the time of the entry being applied it is working data, equal whatever its value and
//! in no snapshot, so replicas with different settings still agree on their data.

use bytes::Bytes;

use crate::Keyspace;

/// Redis's NOTIFY_* bits (server.h), so that flag strings and values match Redis's.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but key misses and new keys.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// At most this many events are kept for one applied entry (a script or an expiry sweep
/// can raise many); past it events are dropped, as Pub/Sub may drop messages.
pub const EVENTS_PER_ENTRY_MAX: usize = 100_000;

/// One notification: the class it belongs to, Redis's event name, and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub class: u32,
    pub name: &'static str,
    pub key: Bytes,
}

/// What the keyspace records while applying (working data, see the module comment).
#[derive(Clone, Debug, Default)]
pub(crate) struct Notifier {
    flags: u32,
    events: Vec<Event>,
}

impl PartialEq for Notifier {
    fn eq(&self, _: &Notifier) -> bool {
        true
    }
}

/// Redis's complaint about a `notify-keyspace-events` value (config.c).
pub const BAD_FLAGS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// `notify-keyspace-events` text to flags (notify.c `keyspaceEventsStringToFlags`); the
/// error is [`BAD_FLAGS`] for a character Redis does not know.
pub fn parse_flags(text: &str) -> Result<u32, &'static str> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => class::ALL,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            _ => return Err(BAD_FLAGS),
        };
    }
    Ok(flags)
}

/// Flags to the text CONFIG GET shows (notify.c `keyspaceEventsFlagsToString`).
pub fn flags_text(flags: u32) -> String {
    let mut text = String::new();
    if flags & class::ALL == class::ALL {
        text.push('A');
    } else {
        for (bit, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                text.push(c);
            }
        }
    }
    for (bit, c) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            text.push(c);
        }
    }
    text
}

impl Keyspace {
    /// Which classes of events to record from now on (0: none, the default).
    pub fn set_notify_flags(&mut self, flags: u32) {
        self.notifier.flags = flags;
    }

    /// The events recorded since the last call, in the order they were raised.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.notifier.events)
    }

    /// Records an event if its class is on and some channel kind (K or E) is on, as
    /// `notifyKeyspaceEvent` publishes.
    pub(crate) fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        let flags = self.notifier.flags;
        if flags & class == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
            return;
        }
        if self.notifier.events.len() < EVENTS_PER_ENTRY_MAX {
            self.notifier.events.push(Event {
                class,
                name,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// How many events are recorded (a script's rollback drops the ones it raised).
    pub(crate) fn events_recorded(&self) -> usize {
        self.notifier.events.len()
    }

    pub(crate) fn drop_events_after(&mut self, count: usize) {
        self.notifier.events.truncate(count);
    }
}

/// The channels and messages one event is published as, with the flags that chose them
/// (`__keyspace@0__:<key>` carrying the event name, `__keyevent@0__:<name>` carrying the
/// key; ninesdb has database 0 only).
pub fn messages(event: &Event, flags: u32) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::with_capacity(2);
    if flags & class::KEYSPACE != 0 {
        let mut channel = b"__keyspace@0__:".to_vec();
        channel.extend_from_slice(&event.key);
        out.push((
            Bytes::from(channel),
            Bytes::from_static(event.name.as_bytes()),
        ));
    }
    if flags & class::KEYEVENT != 0 {
        let channel = format!("__keyevent@0__:{}", event.name);
        out.push((Bytes::from(channel), event.key.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_text_round_trips_as_redis_prints_it() {
        for (given, shown) in [
            ("", ""),
            ("KEA", "AKE"),
            ("Kg$lshzxet", "g$lshzxetK"),
            ("Kg$lshzxetd", "AK"),
            ("Elg", "glE"),
            ("Ex", "xE"),
            ("AKEmn", "AKEm"),
            ("Kn", "nK"),
        ] {
            let flags = parse_flags(given).unwrap();
            assert_eq!(flags_text(flags), shown, "{given}");
        }
        assert_eq!(parse_flags("Kq"), Err(BAD_FLAGS));
        // 'A' leaves out key misses and new keys, as in Redis.
        assert_eq!(
            parse_flags("A").unwrap() & (class::KEY_MISS | class::NEW),
            0
        );
    }

    #[test]
    fn events_need_a_class_and_a_channel_kind() {
        let mut ks = Keyspace::new();
        ks.notify(class::GENERIC, "del", b"k");
        ks.set_notify_flags(class::GENERIC);
        ks.notify(class::GENERIC, "del", b"k");
        assert!(ks.take_events().is_empty(), "no K or E: nothing published");
        ks.set_notify_flags(class::GENERIC | class::KEYEVENT);
        ks.notify(class::STRING, "set", b"k");
        ks.notify(class::GENERIC, "del", b"k");
        let events = ks.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "del");
        assert!(ks.take_events().is_empty());
    }

    fn run(ks: &mut Keyspace, line: &[&str]) -> resp::Value {
        let args: Vec<Bytes> = line.iter().map(|w| Bytes::from(w.to_string())).collect();
        ks.apply(
            &args,
            crate::Context {
                now_ms: 1_000,
                seed: 1,
            },
        )
    }

    fn names(ks: &mut Keyspace) -> Vec<&'static str> {
        ks.take_events().iter().map(|e| e.name).collect()
    }

    // Goal: what is undone raises nothing. Method: a script aborted by its budget after a
    // write, and a MULTI whose watched key changed: no events; a script that ends keeps its
    // writes' events in order.
    #[test]
    fn undone_writes_raise_no_events() {
        let mut ks = Keyspace::new();
        ks.set_notify_flags(parse_flags("KEA").unwrap());
        ks.set_script_instructions_max(10_000);
        let runaway = "redis.call('set', KEYS[1], 'v') while true do end";
        let reply = run(&mut ks, &["EVAL", runaway, "1", "k"]);
        assert!(matches!(reply, resp::Value::Error(_)), "{reply:?}");
        assert!(names(&mut ks).is_empty());
        let body = "redis.call('set', KEYS[1], 'v') return redis.call('del', KEYS[1])";
        run(&mut ks, &["EVAL", body, "1", "k"]);
        assert_eq!(names(&mut ks), ["set", "del"]);

        run(&mut ks, &["SET", "w", "1"]);
        let seen = ks.version(b"w");
        run(&mut ks, &["SET", "w", "2"]);
        names(&mut ks);
        let commands = vec![vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
        ]];
        let watched = [(Bytes::from_static(b"w"), seen)];
        let reply = ks.exec(
            &commands,
            &watched,
            crate::Context {
                now_ms: 1_000,
                seed: 2,
            },
        );
        assert_eq!(reply, resp::Value::NullArray);
        assert!(names(&mut ks).is_empty());
    }

    #[test]
    fn an_event_is_published_on_each_chosen_channel_kind() {
        let event = Event {
            class: class::GENERIC,
            name: "expire",
            key: Bytes::from_static(b"k"),
        };
        let both = messages(&event, class::KEYSPACE | class::KEYEVENT | class::GENERIC);
        assert_eq!(
            both,
            vec![
                (
                    Bytes::from_static(b"__keyspace@0__:k"),
                    Bytes::from_static(b"expire")
                ),
                (
                    Bytes::from_static(b"__keyevent@0__:expire"),
                    Bytes::from_static(b"k")
                ),
            ]
        );
        assert_eq!(messages(&event, class::KEYEVENT | class::GENERIC).len(), 1);
    }
}
