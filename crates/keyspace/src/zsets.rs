//! Sorted sets: ZADD, ZRANGE and the rest of Redis 7.0's sorted-set commands.
