//! The Lua scripts: each runs atomically in Redis, in one round trip.
//!
//! Entry keys are `{prefix}{generation}:{locator}`, where the generation is the
//! integer under `{prefix}gen` (absent: 0) that `invalidate_all` increments. Scripts
//! build the entry key themselves from the generation they read, so a read or write
//! and the generation it belongs to are one atomic step. (Keys built inside a script
//! are not declared to Redis: fine on a standalone server or a primary with replicas,
//! not on Redis Cluster.)

use redis::Script;

/// `KEYS[1]` generation key; `ARGV` prefix, locator.
/// Returns `{generation, bytes or nil, PTTL}`.
pub(super) const READ: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local value = redis.call('GET', key)
if not value then return {gen, false, -2} end
return {gen, value, redis.call('PTTL', key)}
";

/// Compare-and-set. `KEYS[1]` generation key; `ARGV` prefix, locator, expected
/// generation, SHA-1 of the expected bytes (`''`: expected absent), new bytes,
/// expiry in ms (`'0'`: none). Returns 1 when written, 0 when the entry changed, -1
/// when the generation changed (an `invalidate_all` won).
pub(super) const COMPARE_AND_SET: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[3] then return -1 end
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local current = redis.call('GET', key)
if ARGV[4] == '' then
  if current then return 0 end
elseif (not current) or redis.sha1hex(current) ~= ARGV[4] then
  return 0
end
if ARGV[6] == '0' then
  redis.call('SET', key, ARGV[5])
else
  redis.call('SET', key, ARGV[5], 'PX', ARGV[6])
end
return 1
";

/// `KEYS[1]` generation key; `ARGV` prefix, locator.
pub(super) const REMOVE: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('DEL', ARGV[1] .. gen .. ':' .. ARGV[2])
";

/// Compare-and-delete of a refresh lock. `KEYS[1]` lock key; `ARGV[1]` token.
pub(super) const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The scripts, hashed once (`EVALSHA`, falling back to `EVAL` after a restart).
pub(super) struct Scripts {
    pub(super) read: Script,
    pub(super) compare_and_set: Script,
    pub(super) remove: Script,
    pub(super) unlock: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            read: Script::new(READ),
            compare_and_set: Script::new(COMPARE_AND_SET),
            remove: Script::new(REMOVE),
            unlock: Script::new(UNLOCK),
        }
    }
}
