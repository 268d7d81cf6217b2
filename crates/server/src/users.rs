//! Users and permissions (Redis 7's ACL, from the `acl` crate) on a cluster.
//!
//! The users are the cluster's, not a node's: they live in the meta group's keyspace as one
//! key ([`USERS_KEY`], the encoded [`acl::Acl`]), and `ACL SETUSER` / `ACL DELUSER` are
//! writes to the meta group, applied on every replica in log order
//! ([`apply_acl_command`]). Every node keeps a copy ([`Users`]) that it refreshes from the
//! meta group's leader (a linearizable read every [`REFRESH_EVERY`], and at once after an
//! ACL change made through this node), so a change made on one node holds on all within
//! that time. Until a node has read the users once, it runs nothing that needs them.
//!
//! `--requirepass` and `--admin-password` are applied by the meta group's leader, once, as
//! ordinary ACL changes (see [`bootstrap_commands`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use keyspace::{Context, Keyspace};
use resp::Value;

/// The meta group's key holding the encoded users.
pub const USERS_KEY: &[u8] = b"acl:users";
/// How often a node re-reads the users from the meta group's leader.
pub const REFRESH_EVERY: Duration = Duration::from_millis(500);
/// What `--requirepass` takes from the default user besides setting its password: the
/// cluster's administration, which needs the `admin` user (`--admin-password`).
const ADMIN_ONLY: &[&str] = &[
    "-ninesdb|join",
    "-ninesdb|drain",
    "-ninesdb|undrain",
    "-ninesdb|debug",
    "-acl|setuser",
    "-acl|deluser",
    "-shutdown",
];

/// How long a command on a node that has not read the users yet waits for them before it
/// is answered `LOADING` (a node just started reads them within a few election rounds).
pub const FIRST_READ_PATIENCE: Duration = Duration::from_secs(3);

/// This node's copy of the cluster's users (`None` until first read).
#[derive(Default)]
pub struct Users {
    current: RwLock<Option<Arc<acl::Acl>>>,
    /// Woken when the users are read for the first time.
    first_read: tokio::sync::Notify,
}

impl Users {
    /// The users as last read, if ever.
    pub fn get(&self) -> Option<Arc<acl::Acl>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, users: acl::Acl) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(users));
        self.first_read.notify_waiters();
    }

    /// Waits up to `patience` for the users to be read once (at once if they were).
    pub async fn wait_first_read(&self, patience: Duration) {
        let notified = self.first_read.notified();
        tokio::pin!(notified);
        // Registered before the check, so a `set` between the two is not missed.
        notified.as_mut().enable();
        if self.get().is_some() {
            return;
        }
        let _ = tokio::time::timeout(patience, notified).await;
    }
}

/// The users recorded in a meta group keyspace (the default user alone if none were set).
pub fn read_users(keyspace: &Keyspace, now_ms: u64) -> Result<acl::Acl, String> {
    match keyspace.read(
        &[Bytes::from_static(b"GET"), Bytes::from_static(USERS_KEY)],
        Context { now_ms, seed: 0 },
    ) {
        Value::Bulk(bytes) => decode(&bytes),
        _ => Ok(acl::Acl::new()),
    }
}

/// Decodes the users from their key's value.
pub fn decode(bytes: &[u8]) -> Result<acl::Acl, String> {
    acl::Acl::decode(bytes).map_err(|e| format!("the stored users do not decode: {}", e.0))
}

/// Whether a meta group entry's command is an ACL change.
pub fn is_acl_change(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"acl"))
        && acl::Acl::is_mutation(args)
}

/// Applies a committed `ACL SETUSER` / `ACL DELUSER` to the users in the meta keyspace:
/// deterministic, so every replica holds the same users after the same entry.
pub fn apply_acl_command(keyspace: &mut Keyspace, args: &[Bytes], now_ms: u64) -> Value {
    let mut users = match read_users(keyspace, now_ms) {
        Ok(users) => users,
        Err(error) => return Value::Error(format!("ERR {error}")),
    };
    let reply = users.apply(args);
    if !matches!(reply, Value::Error(_)) {
        keyspace.apply(
            &[
                Bytes::from_static(b"SET"),
                Bytes::from_static(USERS_KEY),
                users.encode(),
            ],
            Context { now_ms, seed: 0 },
        );
    }
    reply
}

/// The ACL changes the meta leader makes for `--requirepass` and `--admin-password`, given
/// the users now: each once (the default user still without a password; no `admin` user
/// yet), so a later ACL SETUSER by an operator is not undone.
pub fn bootstrap_commands(
    users: &acl::Acl,
    requirepass: Option<&str>,
    admin_password: Option<&str>,
) -> Vec<Vec<Bytes>> {
    let mut commands = Vec::new();
    let default_open = users.user(b"default").is_some_and(acl::User::nopass);
    if let (Some(password), true) = (requirepass, default_open) {
        let mut args = acl::requirepass_command(Some(password.as_bytes()));
        args.extend(
            ADMIN_ONLY
                .iter()
                .map(|rule| Bytes::from_static(rule.as_bytes())),
        );
        commands.push(args);
    }
    if let (Some(password), None) = (admin_password, users.user(b"admin")) {
        commands.push(
            ["ACL", "SETUSER", "admin", "on", "~*", "&*", "+@all"]
                .iter()
                .map(|s| Bytes::from_static(s.as_bytes()))
                .chain(std::iter::once(Bytes::from(format!(">{password}"))))
                .collect(),
        );
    }
    commands
}

/// What a connection knows of who it is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user: Bytes,
    pub authenticated: bool,
}

impl Identity {
    /// A new connection: the default user, authenticated if that user needs no password
    /// (Redis's rule), or unknown yet if the users were never read.
    pub fn new(users: Option<&acl::Acl>) -> Identity {
        Identity {
            user: Bytes::from_static(b"default"),
            authenticated: users.is_some_and(|u| !u.auth_required()),
        }
    }
}

/// Whether `identity` may run `args` now: `Err` is the reply (NOAUTH, NOPERM, or "not
/// ready"), with the ACL LOG event a refusal makes.
pub fn gate(
    users: Option<&acl::Acl>,
    identity: &mut Identity,
    args: &[Bytes],
) -> Result<(), (Value, Option<(acl::DeniedReason, Bytes)>)> {
    let meta = acl::commands::lookup_args(args);
    let no_auth = meta.is_some_and(|m| m.flags & acl::commands::flag::NO_AUTH != 0);
    let Some(users) = users else {
        if no_auth {
            return Ok(());
        }
        return Err((
            Value::Error(
                "LOADING this node has not read the cluster's users yet; retry in a moment"
                    .to_owned(),
            ),
            None,
        ));
    };
    if !identity.authenticated {
        // Users read after the connection opened: the rule is the same as at connect.
        identity.authenticated = !users.auth_required();
    }
    if !identity.authenticated && !no_auth {
        return Err((acl::Acl::noauth_error(), None));
    }
    if !identity.authenticated {
        return Ok(());
    }
    users
        .check(&identity.user, args)
        .map_err(|denied| (denied.error(), Some((denied.reason, denied.object()))))
}

// ---- the server's side: keeping the copy fresh, AUTH, the ACL command ----

/// Reads the users from the meta group's leader now; keeps the old copy if that fails.
pub async fn refresh_now(shared: &crate::client::Shared) {
    let reply = crate::fanout::ask(
        crate::cluster::META,
        vec![Bytes::from_static(b"GET"), Bytes::from_static(USERS_KEY)],
        true,
        shared,
    )
    .await;
    let users = match reply {
        Value::Bulk(bytes) => decode(&bytes),
        Value::Null => Ok(acl::Acl::new()),
        _ => return,
    };
    match users {
        Ok(users) => shared.users.set(users),
        Err(error) => tracing::error!("users: {error}"),
    }
}

/// Re-reads the users every [`REFRESH_EVERY`] for as long as the server runs.
pub async fn keep_fresh(shared: Arc<crate::client::Shared>) {
    loop {
        refresh_now(&shared).await;
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}

/// Records a refusal in this node's ACL LOG.
pub fn log_refusal(
    shared: &crate::client::Shared,
    client_id: u64,
    identity: &Identity,
    reason: acl::DeniedReason,
    context: acl::LogContext,
    object: Bytes,
) {
    let client_info = format!(
        "id={client_id} user={}",
        String::from_utf8_lossy(&identity.user)
    );
    shared
        .acl_log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(
            acl::LogEvent {
                reason,
                context,
                object,
                username: identity.user.clone(),
                client_info: Bytes::from(client_info),
            },
            crate::driver::wall_clock_ms(),
        );
}

/// AUTH: on success the connection becomes `user`; a wrong password is logged.
pub fn auth(
    args: &[Bytes],
    connection: &crate::client::ConnectionView,
    shared: &crate::client::Shared,
    effects: &mut crate::client::LocalEffects<'_>,
) -> Value {
    let Some(users) = shared.users.get() else {
        return not_ready();
    };
    match users.auth(args) {
        Ok(user) => {
            effects.set_user(user);
            Value::Simple("OK".to_owned())
        }
        Err(error) => {
            if let Some(user) = error.log_username {
                let identity = Identity {
                    user: user.clone(),
                    authenticated: false,
                };
                log_refusal(
                    shared,
                    connection.id,
                    &identity,
                    acl::DeniedReason::Auth,
                    acl::LogContext::Toplevel,
                    Bytes::from_static(b"AUTH"),
                );
            }
            error.reply
        }
    }
}

/// HELLO's `AUTH user password`: `Err` is the reply.
pub fn hello_auth(
    user: &Bytes,
    password: &[u8],
    shared: &crate::client::Shared,
    effects: &mut crate::client::LocalEffects<'_>,
) -> Result<(), Value> {
    let users = shared.users.get().ok_or_else(not_ready)?;
    users.authenticate(user, password)?;
    effects.set_user(user.clone());
    Ok(())
}

fn not_ready() -> Value {
    Value::Error(
        "LOADING this node has not read the cluster's users yet; retry in a moment".to_owned(),
    )
}

/// The ACL command: changes go through the meta group (then this node re-reads the users
/// at once); LOG is this node's; the rest reads this node's copy.
pub async fn acl_command(
    args: &[Bytes],
    connection: &crate::client::ConnectionView,
    shared: &crate::client::Shared,
) -> Value {
    let Some(users) = shared.users.get() else {
        return not_ready();
    };
    match acl::classify(args) {
        acl::AclCommand::Error(error) => error,
        acl::AclCommand::Read => users.read(args, &connection.identity.user),
        acl::AclCommand::Log => shared
            .acl_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .command(args, crate::driver::wall_clock_ms()),
        acl::AclCommand::Genpass => acl::genpass(args, &random_bytes()),
        acl::AclCommand::Apply => {
            if connection.in_multi {
                return Value::Error("ERR ACL changes cannot be queued in MULTI on ninesdb (they are the cluster's, applied through its meta group)".to_owned());
            }
            let reply =
                crate::fanout::ask(crate::cluster::META, args.to_vec(), false, shared).await;
            refresh_now(shared).await;
            reply
        }
    }
}

/// Random bytes for ACL GENPASS, from the kernel.
fn random_bytes() -> Vec<u8> {
    use std::io::Read;
    let mut bytes = vec![0u8; acl::limits::GENPASS_RANDOM_BYTES];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // No /dev/urandom: the clock's nanoseconds, stretched. Weak, and said so in the log.
        tracing::warn!("/dev/urandom unavailable; ACL GENPASS falls back to the clock");
        let mut state = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for byte in &mut bytes {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *byte = (state >> 56) as u8;
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split_whitespace()
            .map(|s| Bytes::from(s.to_owned()))
            .collect()
    }

    #[test]
    fn acl_changes_are_kept_in_the_meta_keyspace() {
        let mut keyspace = Keyspace::new();
        let reply = apply_acl_command(&mut keyspace, &args("ACL SETUSER alice on >pw +get ~*"), 1);
        assert_eq!(reply, Value::Simple("OK".to_owned()));
        let users = read_users(&keyspace, 2).unwrap();
        assert!(users.authenticate(b"alice", b"pw").is_ok());
        // A refused change changes nothing.
        let before = keyspace.digest();
        let reply = apply_acl_command(&mut keyspace, &args("ACL SETUSER bob +nosuchcommand"), 3);
        assert!(matches!(reply, Value::Error(_)));
        assert_eq!(keyspace.digest(), before);
    }

    #[test]
    fn requirepass_closes_the_door_and_keeps_admin_for_admin() {
        let mut keyspace = Keyspace::new();
        let users = read_users(&keyspace, 1).unwrap();
        let commands = bootstrap_commands(&users, Some("s3cret"), Some("adm"));
        assert_eq!(commands.len(), 2);
        for command in &commands {
            assert_eq!(
                apply_acl_command(&mut keyspace, command, 1),
                Value::Simple("OK".to_owned())
            );
        }
        let users = read_users(&keyspace, 1).unwrap();
        // Applied once: nothing more to do.
        assert!(bootstrap_commands(&users, Some("s3cret"), Some("adm")).is_empty());
        let mut anonymous = Identity::new(Some(&users));
        assert!(!anonymous.authenticated);
        let (reply, _) = gate(Some(&users), &mut anonymous, &args("GET k")).unwrap_err();
        assert_eq!(reply, acl::Acl::noauth_error());
        assert!(gate(Some(&users), &mut anonymous, &args("AUTH s3cret")).is_ok());
        let mut default = Identity {
            user: Bytes::from_static(b"default"),
            authenticated: true,
        };
        assert!(gate(Some(&users), &mut default, &args("SET k v")).is_ok());
        assert!(gate(Some(&users), &mut default, &args("NINESDB DRAIN 2")).is_err());
        assert!(gate(Some(&users), &mut default, &args("ACL SETUSER x on")).is_err());
        let mut admin = Identity {
            user: Bytes::from_static(b"admin"),
            authenticated: true,
        };
        assert!(gate(Some(&users), &mut admin, &args("NINESDB DRAIN 2")).is_ok());
        // Before the users are read, only connection commands run.
        let mut fresh = Identity::new(None);
        assert!(gate(None, &mut fresh, &args("GET k")).is_err());
        assert!(gate(None, &mut fresh, &args("HELLO 3")).is_ok());
    }
}
