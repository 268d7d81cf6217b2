//! Redis Pub/Sub on one node, and across the cluster.
//!
//! Pub/Sub is not replicated (at-most-once, as in Redis): a node keeps a [`Registry`] of its
//! own clients' subscriptions, and a PUBLISH made on any node is delivered to that node's
//! subscribers and sent to every other member as a `Frame::Publish` over the peer links
//! (one FIFO queue per link, so one publisher's messages arrive in order). A message is lost
//! if a link is down or its queue is full, as Redis Cluster's bus may lose it.
//!
//! Each subscribed connection has a [`Mailbox`]: the registry puts deliveries in it, the
//! connection's task takes them out, encodes them in its protocol and writes them under
//! the `client-output-buffer-limit pubsub` watch. What waits in a mailbox is counted in
//! bytes and capped ([`Mailbox::offer`]), so a subscriber whose task cannot keep up is
//! disconnected instead of growing the node's memory.
//!
//! Replies count what this node knows, as Redis Cluster does: PUBLISH's receivers and the
//! PUBSUB introspection commands are this node's subscribers only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use resp::{Protocol, Value};
use tokio::sync::mpsc;

/// What a mailbox may hold when no hard output limit is set (Redis would hold it without
/// bound; a node must not).
pub const MAILBOX_BYTES_MAX: usize = 256 << 20;
/// Bytes a delivery is counted for beyond its channel, pattern and message.
const DELIVERY_OVERHEAD: usize = 64;

/// `--notify-keyspace-events` / CONFIG SET's value: Redis's class characters.
pub fn parse_keyspace_events(text: &str) -> Result<u32, String> {
    keyspace::parse_flags(text).map_err(str::to_owned)
}

/// The three subscription spaces of Redis 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE (patterns over the channels of PUBLISH).
    Pattern,
    /// SSUBSCRIBE / SPUBLISH (sharded channels).
    Shard,
}

/// A message for one subscriber.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The pattern that matched (a `pmessage`), if any.
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub message: Bytes,
    pub shard: bool,
}

impl Delivery {
    fn cost(&self) -> usize {
        self.channel.len()
            + self.message.len()
            + self.pattern.as_ref().map_or(0, Bytes::len)
            + DELIVERY_OVERHEAD
    }

    /// pubsub.c `addReplyPubsubMessage` / `addReplyPubsubPatMessage`.
    pub fn value(&self) -> Value {
        let bulk = |b: &Bytes| Value::Bulk(b.clone());
        match &self.pattern {
            Some(pattern) => Value::Push(vec![
                text("pmessage"),
                bulk(pattern),
                bulk(&self.channel),
                bulk(&self.message),
            ]),
            None => Value::Push(vec![
                text(if self.shard { "smessage" } else { "message" }),
                bulk(&self.channel),
                bulk(&self.message),
            ]),
        }
    }
}

fn text(s: &'static str) -> Value {
    Value::Bulk(Bytes::from_static(s.as_bytes()))
}

/// The registry's side of one subscribed connection.
pub struct Mailbox {
    sender: mpsc::UnboundedSender<Delivery>,
    queued: AtomicUsize,
    cap: usize,
    overflowed: AtomicBool,
}

impl Mailbox {
    /// Queues `delivery` unless that would pass the cap; past it the mailbox is marked
    /// overflowed and its connection closes when it next looks.
    fn offer(&self, delivery: Delivery) {
        if self.overflowed.load(Ordering::Relaxed) {
            return;
        }
        let cost = delivery.cost();
        let before = self.queued.fetch_add(cost, Ordering::Relaxed);
        if before + cost > self.cap {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            self.overflowed.store(true, Ordering::Relaxed);
            // An empty delivery wakes the connection so it sees the overflow now.
            let _ = self.sender.send(Delivery {
                pattern: None,
                channel: Bytes::new(),
                message: Bytes::new(),
                shard: false,
            });
            return;
        }
        if self.sender.send(delivery).is_err() {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
        }
    }
}

/// The connection's side of its mailbox.
pub struct Inbox {
    receiver: mpsc::UnboundedReceiver<Delivery>,
    mailbox: Arc<Mailbox>,
}

/// What an inbox gave.
pub enum Received {
    Message(Delivery),
    /// More was published for this subscriber than its mailbox may hold: close it.
    Overflowed,
}

impl Inbox {
    /// The next delivery; waits for one.
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Some(delivery) => self.took(delivery),
            // The registry keeps the sender while the connection lives: not reached.
            None => std::future::pending().await,
        }
    }

    /// The next delivery if one waits.
    pub fn try_recv(&mut self) -> Option<Received> {
        self.receiver.try_recv().ok().map(|d| self.took(d))
    }

    fn took(&self, delivery: Delivery) -> Received {
        if self.mailbox.overflowed.load(Ordering::Relaxed) {
            return Received::Overflowed;
        }
        self.mailbox
            .queued
            .fetch_sub(delivery.cost(), Ordering::Relaxed);
        Received::Message(delivery)
    }
}

type Subscribers = HashMap<Bytes, HashMap<u64, Arc<Mailbox>>>;

/// This node's subscriptions: who hears what.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    /// `notify-keyspace-events` (keyspace::notify_class bits): which events of the writes
    /// this node applies are published to its subscribers (0: none, Redis's default).
    keyspace_events: AtomicU32,
}

#[derive(Default)]
struct Inner {
    channels: Subscribers,
    patterns: Subscribers,
    shard_channels: Subscribers,
}

impl Inner {
    fn space(&mut self, space: Space) -> &mut Subscribers {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard_channels,
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mailbox for a connection that subscribes, holding at most `cap` bytes.
    pub fn mailbox(cap: usize) -> (Arc<Mailbox>, Inbox) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mailbox = Arc::new(Mailbox {
            sender,
            queued: AtomicUsize::new(0),
            cap,
            overflowed: AtomicBool::new(false),
        });
        let inbox = Inbox {
            receiver,
            mailbox: Arc::clone(&mailbox),
        };
        (mailbox, inbox)
    }

    fn add(&self, space: Space, name: &Bytes, client: u64, mailbox: &Arc<Mailbox>) {
        self.lock()
            .space(space)
            .entry(name.clone())
            .or_default()
            .insert(client, Arc::clone(mailbox));
    }

    fn remove(&self, space: Space, name: &[u8], client: u64) {
        let mut inner = self.lock();
        let subscribers = inner.space(space);
        if let Some(clients) = subscribers.get_mut(name) {
            clients.remove(&client);
            // No empty entries: a client cannot grow the registry by churning channels.
            if clients.is_empty() {
                subscribers.remove(name);
            }
        }
    }

    /// This node's `notify-keyspace-events` flags.
    pub fn keyspace_events(&self) -> u32 {
        self.keyspace_events.load(Ordering::Relaxed)
    }

    pub fn set_keyspace_events(&self, flags: u32) {
        self.keyspace_events.store(flags, Ordering::Relaxed);
    }

    /// Keyspace notifications: the events of writes this node applied, published to its
    /// own subscribers only, as a Redis node publishes those of the commands it runs (a
    /// replica too). Every replica applies every write, so a subscriber hears the events of
    /// every group with a replica on its node.
    pub fn publish_keyspace_events(&self, events: Vec<keyspace::Event>, flags: u32) {
        for event in &events {
            for (channel, message) in keyspace::messages(event, flags) {
                self.publish(&channel, &message, false);
            }
        }
    }

    /// Delivers to this node's subscribers; returns how many received it (pubsub.c
    /// `pubsubPublishMessage`: channel subscribers plus matching pattern subscriptions).
    pub fn publish(&self, channel: &Bytes, message: &Bytes, shard: bool) -> usize {
        let inner = self.lock();
        let mut receivers = 0;
        let direct = if shard {
            &inner.shard_channels
        } else {
            &inner.channels
        };
        if let Some(clients) = direct.get(channel) {
            for mailbox in clients.values() {
                mailbox.offer(Delivery {
                    pattern: None,
                    channel: channel.clone(),
                    message: message.clone(),
                    shard,
                });
                receivers += 1;
            }
        }
        if !shard {
            for (pattern, clients) in &inner.patterns {
                if !acl::glob_match(pattern, channel) {
                    continue;
                }
                for mailbox in clients.values() {
                    mailbox.offer(Delivery {
                        pattern: Some(pattern.clone()),
                        channel: channel.clone(),
                        message: message.clone(),
                        shard: false,
                    });
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channels matching `pattern`.
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let inner = self.lock();
        let space = if shard {
            &inner.shard_channels
        } else {
            &inner.channels
        };
        let mut names: Vec<Bytes> = space
            .keys()
            .filter(|name| pattern.is_none_or(|p| acl::glob_match(p, name)))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    pub fn subscribers(&self, shard: bool, channel: &[u8]) -> usize {
        let inner = self.lock();
        let space = if shard {
            &inner.shard_channels
        } else {
            &inner.channels
        };
        space.get(channel).map_or(0, HashMap::len)
    }

    /// INFO's `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (
            inner.channels.len(),
            inner.patterns.len(),
            inner.shard_channels.len(),
        )
    }

    /// PUBSUB NUMPAT: distinct patterns subscribed.
    pub fn pattern_count(&self) -> usize {
        self.lock().patterns.len()
    }
}

/// One connection's subscriptions, in the order they were made (mass unsubscribes answer
/// in that order).
#[derive(Default)]
struct Names {
    order: Vec<Bytes>,
    set: HashSet<Bytes>,
}

impl Names {
    fn insert(&mut self, name: &Bytes) -> bool {
        if !self.set.insert(name.clone()) {
            return false;
        }
        self.order.push(name.clone());
        true
    }

    fn remove(&mut self, name: &Bytes) -> bool {
        if !self.set.remove(name) {
            return false;
        }
        self.order.retain(|n| n != name);
        true
    }

    fn len(&self) -> usize {
        self.set.len()
    }
}

/// A connection's Pub/Sub state.
pub struct Session {
    client: u64,
    registry: Arc<Registry>,
    channels: Names,
    patterns: Names,
    shard_channels: Names,
    mailbox: Option<Arc<Mailbox>>,
}

impl Session {
    pub fn new(client: u64, registry: Arc<Registry>) -> Session {
        Session {
            client,
            registry,
            channels: Names::default(),
            patterns: Names::default(),
            shard_channels: Names::default(),
            mailbox: None,
        }
    }

    /// Redis's `CLIENT_PUBSUB`: the connection has a subscription of any kind.
    pub fn subscribed(&self) -> bool {
        self.channels.len() + self.patterns.len() + self.shard_channels.len() > 0
    }

    /// pubsub.c `clientSubscriptionsCount` (channels and patterns) or
    /// `clientShardSubscriptionsCount`.
    fn count(&self, space: Space) -> i64 {
        let n = match space {
            Space::Channel | Space::Pattern => self.channels.len() + self.patterns.len(),
            Space::Shard => self.shard_channels.len(),
        };
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    fn names(&mut self, space: Space) -> &mut Names {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard_channels,
        }
    }

    /// Subscribes to `names`; the inbox is returned the first time this connection
    /// subscribes (its task must then listen to it). One notification per name.
    pub fn subscribe(
        &mut self,
        space: Space,
        names: &[Bytes],
        mailbox_cap: usize,
    ) -> (Vec<Value>, Option<Inbox>) {
        let mut inbox = None;
        let mailbox = match &self.mailbox {
            Some(mailbox) => Arc::clone(mailbox),
            None => {
                let (mailbox, new_inbox) = Registry::mailbox(mailbox_cap);
                self.mailbox = Some(Arc::clone(&mailbox));
                inbox = Some(new_inbox);
                mailbox
            }
        };
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            if self.names(space).insert(name) {
                self.registry.add(space, name, self.client, &mailbox);
            }
            replies.push(Value::Push(vec![
                text(subscribe_word(space)),
                Value::Bulk(name.clone()),
                Value::Integer(self.count(space)),
            ]));
        }
        (replies, inbox)
    }

    /// Unsubscribes from `names`, or from all of `space` if none are given (one reply with
    /// a null name if there was nothing to leave).
    pub fn unsubscribe(&mut self, space: Space, names: &[Bytes]) -> Vec<Value> {
        let names: Vec<Bytes> = if names.is_empty() {
            self.names(space).order.clone()
        } else {
            names.to_vec()
        };
        let word = text(unsubscribe_word(space));
        if names.is_empty() {
            return vec![Value::Push(vec![
                word,
                Value::Null,
                Value::Integer(self.count(space)),
            ])];
        }
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            if self.names(space).remove(&name) {
                self.registry.remove(space, &name, self.client);
            }
            replies.push(Value::Push(vec![
                word.clone(),
                Value::Bulk(name),
                Value::Integer(self.count(space)),
            ]));
        }
        replies
    }

    /// Leaves everything and drops the mailbox (RESET, or the last unsubscribe): what it
    /// still holds was published after the client left, and a later subscription starts
    /// a new one.
    pub fn detach(&mut self) {
        self.clear();
        self.mailbox = None;
    }

    /// Leaves everything.
    pub fn clear(&mut self) {
        for space in [Space::Channel, Space::Pattern, Space::Shard] {
            let names = std::mem::take(self.names(space));
            for name in names.order {
                self.registry.remove(space, &name, self.client);
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.clear();
    }
}

fn subscribe_word(space: Space) -> &'static str {
    match space {
        Space::Channel => "subscribe",
        Space::Pattern => "psubscribe",
        Space::Shard => "ssubscribe",
    }
}

fn unsubscribe_word(space: Space) -> &'static str {
    match space {
        Space::Channel => "unsubscribe",
        Space::Pattern => "punsubscribe",
        Space::Shard => "sunsubscribe",
    }
}

/// The commands this module answers.
pub fn is_command(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "publish"
            | "spublish"
            | "pubsub"
    )
}

/// server.c `processCommand`'s unknown-subcommand and arity errors, for [`is_command`]'s.
pub fn check_arity(args: &[Bytes]) -> Result<(), Value> {
    let Some(meta) = acl::commands::lookup_args(args) else {
        let sub = args.get(1).map_or(&b""[..], |s| &s[..s.len().min(128)]);
        return Err(Value::Error(format!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(sub)
        )));
    };
    if !meta.arity_ok(args.len()) {
        return Err(Value::Error(format!(
            "ERR wrong number of arguments for '{}' command",
            meta.name
        )));
    }
    Ok(())
}

/// server.c `processCommand`: a RESP2 connection with subscriptions may only run these
/// (RESP3 connections take pushes between replies and may run anything).
pub fn subscriber_mode_refusal(name: &str, args: &[Bytes]) -> Option<Value> {
    const ALLOWED: &[&str] = &[
        "ping",
        "subscribe",
        "ssubscribe",
        "unsubscribe",
        "sunsubscribe",
        "psubscribe",
        "punsubscribe",
        "quit",
        "reset",
    ];
    if ALLOWED.contains(&name) {
        return None;
    }
    // An unknown command is answered as such first, as in Redis.
    let meta = acl::commands::lookup_args(args)?;
    Some(Value::Error(format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        meta.name
    )))
}

/// A transaction's PUBLISH/SPUBLISH commands, each with its place among the queued ones.
pub type Publishes = Vec<(usize, Vec<Bytes>)>;

/// A transaction's PUBLISH/SPUBLISH commands (with their places) apart from the rest.
pub fn split_publishes(commands: Vec<Vec<Bytes>>) -> (Publishes, Vec<Vec<Bytes>>) {
    let mut publishes = Vec::new();
    let mut rest = Vec::with_capacity(commands.len());
    for (at, args) in commands.into_iter().enumerate() {
        let is_publish = args.first().is_some_and(|name| {
            name.eq_ignore_ascii_case(b"publish") || name.eq_ignore_ascii_case(b"spublish")
        });
        if is_publish {
            publishes.push((at, args));
        } else {
            rest.push(args);
        }
    }
    (publishes, rest)
}

/// Whether an encoded EXEC reply is the array of `count` replies of a transaction that ran
/// (not a null for a failed WATCH, nor an error).
pub fn exec_succeeded(reply: &[u8], count: usize) -> bool {
    split_array(reply).is_some_and(|items| items.len() == count)
}

/// The encoded EXEC reply with the PUBLISH counts `(place, receivers)` put in at their
/// places (in increasing order); `None` if `reply` is not an array.
pub fn splice_exec(reply: &[u8], counts: &[(usize, i64)], protocol: Protocol) -> Option<Bytes> {
    let items = split_array(reply)?;
    let total = items.len() + counts.len();
    let mut out = bytes::BytesMut::with_capacity(reply.len() + counts.len() * 8 + 8);
    out.extend_from_slice(format!("*{total}\r\n").as_bytes());
    let (mut items, mut counts) = (items.into_iter(), counts.iter().peekable());
    for at in 0..total {
        match counts.peek() {
            Some((place, receivers)) if *place == at => {
                resp::encode(&Value::Integer(*receivers), protocol, &mut out);
                counts.next();
            }
            _ => out.extend_from_slice(items.next()?),
        }
    }
    Some(out.freeze())
}

/// The encoded items of the RESP array `reply` (`*N` and nothing after them).
fn split_array(reply: &[u8]) -> Option<Vec<&[u8]>> {
    if reply.first() != Some(&b'*') {
        return None;
    }
    let end = reply.windows(2).position(|w| w == b"\r\n")?;
    let count: usize = std::str::from_utf8(&reply[1..end]).ok()?.parse().ok()?;
    let mut at = end + 2;
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let length = reply_len(reply.get(at..)?, 0)?;
        items.push(&reply[at..at + length]);
        at += length;
    }
    (at == reply.len()).then_some(items)
}

/// The length of the whole RESP2/RESP3 reply at the start of `bytes`, if it is all there.
fn reply_len(bytes: &[u8], depth: usize) -> Option<usize> {
    if depth > 64 {
        return None;
    }
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let number = || -> Option<i64> { std::str::from_utf8(&bytes[1..end]).ok()?.parse().ok() };
    let mut at = end + 2;
    match *bytes.first()? {
        b'$' | b'=' | b'!' => {
            if let Ok(length) = usize::try_from(number()?) {
                at = at.checked_add(length)?.checked_add(2)?;
            }
        }
        head @ (b'*' | b'~' | b'>' | b'%') => {
            let count = usize::try_from(number()?).unwrap_or(0);
            let items = if head == b'%' {
                count.checked_mul(2)?
            } else {
                count
            };
            for _ in 0..items {
                at += reply_len(bytes.get(at..)?, depth + 1)?;
            }
        }
        _ => {}
    }
    (at <= bytes.len()).then_some(at)
}

/// Encodes replies back to back.
pub fn encode_all(values: &[Value], protocol: Protocol) -> Bytes {
    let mut out = bytes::BytesMut::new();
    for value in values {
        resp::encode(value, protocol, &mut out);
    }
    out.freeze()
}

/// PUBSUB's subcommands (pubsub.c `pubsubCommand`), answered from this node's registry.
pub fn pubsub_command(args: &[Bytes], registry: &Registry) -> Value {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let count = |n: usize| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let numsub = |shard: bool| {
        Value::Array(
            args[2..]
                .iter()
                .flat_map(|c| {
                    [
                        Value::Bulk(c.clone()),
                        count(registry.subscribers(shard, c)),
                    ]
                })
                .collect(),
        )
    };
    let list = |shard: bool| {
        Value::Array(
            registry
                .channels(shard, args.get(2).map(|p| p.as_ref()))
                .into_iter()
                .map(Value::Bulk)
                .collect(),
        )
    };
    match sub.as_str() {
        "help" if args.len() == 2 => Value::Array(
            PUBSUB_HELP
                .iter()
                .map(|line| Value::Simple((*line).to_owned()))
                .collect(),
        ),
        "channels" if args.len() <= 3 => list(false),
        "shardchannels" if args.len() <= 3 => list(true),
        "numsub" => numsub(false),
        "shardnumsub" => numsub(true),
        "numpat" if args.len() == 2 => count(registry.pattern_count()),
        _ => Value::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(args.get(1).map_or(&b""[..], |s| s.as_ref()))
        )),
    }
}

/// pubsub.c's PUBSUB HELP, with server.c `addReplyHelp`'s first and last lines.
const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn take(inbox: &mut Inbox) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(Received::Message(d)) = inbox.try_recv() {
            out.push(d.value());
        }
        out
    }

    #[test]
    fn channel_and_pattern_delivery_counts_receivers() {
        let registry = Arc::new(Registry::default());
        let mut one = Session::new(1, Arc::clone(&registry));
        let mut two = Session::new(2, Arc::clone(&registry));
        let (replies, inbox_one) = one.subscribe(Space::Channel, &[b("news"), b("news")], 1 << 20);
        // Subscribing twice is one subscription, answered twice (pubsub.c).
        assert_eq!(replies.len(), 2);
        assert_eq!(
            replies[1],
            Value::Push(vec![
                text("subscribe"),
                Value::Bulk(b("news")),
                Value::Integer(1)
            ])
        );
        let (_, inbox_two) = two.subscribe(Space::Pattern, &[b("n*")], 1 << 20);
        let (mut inbox_one, mut inbox_two) = (inbox_one.unwrap(), inbox_two.unwrap());
        assert_eq!(registry.publish(&b("news"), &b("hi"), false), 2);
        assert_eq!(registry.publish(&b("other"), &b("x"), false), 0);
        // A sharded publish reaches shard subscribers only.
        assert_eq!(registry.publish(&b("news"), &b("s"), true), 0);
        assert_eq!(
            take(&mut inbox_one),
            vec![Value::Push(vec![
                text("message"),
                Value::Bulk(b("news")),
                Value::Bulk(b("hi"))
            ])]
        );
        assert_eq!(
            take(&mut inbox_two),
            vec![Value::Push(vec![
                text("pmessage"),
                Value::Bulk(b("n*")),
                Value::Bulk(b("news")),
                Value::Bulk(b("hi"))
            ])]
        );
        assert_eq!(registry.pattern_count(), 1);
        assert_eq!(registry.channels(false, None), vec![b("news")]);
        assert_eq!(registry.subscribers(false, b"news"), 1);
    }

    #[test]
    fn unsubscribe_all_answers_in_order_then_null() {
        let registry = Arc::new(Registry::default());
        let mut session = Session::new(7, Arc::clone(&registry));
        session.subscribe(Space::Channel, &[b("b"), b("a")], 1 << 20);
        session.subscribe(Space::Pattern, &[b("p*")], 1 << 20);
        let replies = session.unsubscribe(Space::Channel, &[]);
        assert_eq!(
            replies,
            vec![
                Value::Push(vec![
                    text("unsubscribe"),
                    Value::Bulk(b("b")),
                    Value::Integer(2)
                ]),
                Value::Push(vec![
                    text("unsubscribe"),
                    Value::Bulk(b("a")),
                    Value::Integer(1)
                ]),
            ]
        );
        assert_eq!(
            session.unsubscribe(Space::Channel, &[]),
            vec![Value::Push(vec![
                text("unsubscribe"),
                Value::Null,
                Value::Integer(1)
            ])]
        );
        assert!(session.subscribed());
        assert!(registry.channels(false, None).is_empty());
        drop(session);
        // A closed connection leaves nothing behind.
        assert_eq!(registry.pattern_count(), 0);
    }

    #[test]
    fn publish_counts_are_spliced_into_exec_replies() {
        let reply = b"*2\r\n+OK\r\n*2\r\n$1\r\nv\r\n%1\r\n+k\r\n_\r\n";
        assert!(exec_succeeded(reply, 2));
        assert!(!exec_succeeded(reply, 3));
        assert_eq!(
            splice_exec(reply, &[(0, 5), (2, 0), (4, 1)], Protocol::Resp2).unwrap(),
            Bytes::from_static(
                b"*5\r\n:5\r\n+OK\r\n:0\r\n*2\r\n$1\r\nv\r\n%1\r\n+k\r\n_\r\n:1\r\n"
            )
        );
        // A failed WATCH, an abort, a truncated or trailing reply: nothing is published.
        for other in [
            &b"*-1\r\n"[..],
            b"_\r\n",
            b"-EXECABORT x\r\n",
            b"*2\r\n+OK\r\n",
            b"*1\r\n+OK\r\n+X\r\n",
        ] {
            assert!(
                !exec_succeeded(other, 1),
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
        let (publishes, rest) = split_publishes(vec![
            vec![b("SET"), b("k"), b("v")],
            vec![b("publish"), b("c"), b("m")],
            vec![b("GET"), b("k")],
        ]);
        assert_eq!(publishes, vec![(1, vec![b("publish"), b("c"), b("m")])]);
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn a_full_mailbox_overflows_instead_of_growing() {
        let registry = Arc::new(Registry::default());
        let mut session = Session::new(1, Arc::clone(&registry));
        let (_, inbox) = session.subscribe(Space::Channel, &[b("c")], 1000);
        let mut inbox = inbox.unwrap();
        let payload = Bytes::from(vec![b'x'; 400]);
        for _ in 0..10 {
            // Counted as a receiver, as Redis counts a client it will disconnect.
            assert_eq!(registry.publish(&b("c"), &payload, false), 1);
        }
        // Two fit (465 bytes each counted); the third overflows, and the connection hears
        // so at once, before the messages that did fit.
        assert!(matches!(inbox.try_recv(), Some(Received::Overflowed)));
        assert!(
            session
                .mailbox
                .as_ref()
                .unwrap()
                .queued
                .load(Ordering::Relaxed)
                <= 1000
        );
    }
}
