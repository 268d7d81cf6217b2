//! Limits on the user database: it is replicated state, so nothing in it may grow without
//! bound from client input.

/// Users in one database (the default user included).
pub const USERS_MAX: usize = 10_000;
/// Bytes in a user name.
pub const USER_NAME_SIZE_MAX: usize = 1024;
/// Password hashes per user.
pub const PASSWORDS_PER_USER_MAX: usize = 64;
/// Selectors per user (the root one included).
pub const SELECTORS_PER_USER_MAX: usize = 64;
/// Key patterns, channel patterns or first-args per selector.
pub const PATTERNS_PER_SELECTOR_MAX: usize = 1024;
/// Bytes in one key or channel pattern or first-arg.
pub const PATTERN_SIZE_MAX: usize = 4096;
/// Entries ACL LOG keeps (Redis's `acllog-max-len` default).
pub const LOG_ENTRIES_MAX: usize = 128;
/// Bytes of `client-info` kept per log entry.
pub const LOG_CLIENT_INFO_SIZE_MAX: usize = 4096;
/// Random bytes `genpass` needs: one per hex character of the longest password (4096 bits).
pub const GENPASS_RANDOM_BYTES: usize = 1024;
/// Bytes the users may take encoded: SETUSER refuses to grow past it. (About 6,000 users
/// with `+@all` fit; each such selector lists every command by name.)
pub const DATABASE_SIZE_MAX: usize = 32 << 20;
/// Bytes `Acl::decode` accepts: the users plus the header and checksum.
pub const ENCODED_SIZE_MAX: usize = DATABASE_SIZE_MAX + 64;
