//! The Lua scripts: each runs atomically in Redis, in one round trip.
//!
//! Entry keys are `{entry base}{generation}:{locator}` (see `keys`), where the
//! generation is the integer under `{prefix}swr:gen` that `invalidate_all`
//! increments. Scripts build the entry key themselves from the generation they read,
//! so a read or write and the generation it belongs to are one atomic step. (Keys
//! built inside a script are not declared to Redis: fine on a standalone server or a
//! primary with replicas, not on Redis Cluster.)
//!
//! A generation key that is missing (deleted by someone) or holds anything but a
//! canonical integer is replaced, by whichever script meets it first, with Redis's
//! clock in microseconds: a generation never seen before, above every one counted up
//! from an earlier such start, so entries of older generations stay dead instead of
//! coming back, and no access fails on it.

use redis::Script;

/// `generation(key)`: the current generation, repaired first if need be.
const GENERATION: &str = r"
local function generation(key)
  local gen = redis.call('GET', key)
  if gen and #gen <= 18 and (gen == '0' or string.match(gen, '^[1-9]%d*$')) then
    return gen
  end
  if redis.replicate_commands then redis.replicate_commands() end
  local now = redis.call('TIME')
  gen = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', key, gen)
  return gen
end
";

/// Redis's clock, the one clock every process shares (contract §6: ages hold across
/// processes). `now_us()`: microseconds, as a 16-digit string. `stamped(bytes, at)`:
/// the bytes with that string written over their 16 bytes after offset `at` (`0`, or
/// bytes too short: unchanged), and the time written as a number (`0` when none).
const TIME: &str = r"
local function now_us()
  local now = redis.call('TIME')
  return string.format('%010d%06d', tonumber(now[1]), tonumber(now[2]))
end
local function stamped(bytes, at)
  if at == 0 or #bytes < at + 16 then return bytes, 0 end
  if redis.replicate_commands then redis.replicate_commands() end
  local stamp = now_us()
  return string.sub(bytes, 1, at) .. stamp .. string.sub(bytes, at + 17), tonumber(stamp)
end
";

/// `KEYS[1]` generation key; `ARGV` entry base, locator, largest value in bytes.
/// Returns `{generation, bytes or nil, PTTL, length, now}`: the bytes are left out
/// (nil, with their length) when they are longer than the largest value; `now` is
/// Redis's clock (`now_us`), against which the record's stamp gives its age.
const READ: &str = r"
local gen = generation(KEYS[1])
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local length = redis.call('STRLEN', key)
local now = now_us()
if length == 0 then return {gen, false, -2, 0, now} end
if length > tonumber(ARGV[3]) then return {gen, false, redis.call('PTTL', key), length, now} end
return {gen, redis.call('GET', key), redis.call('PTTL', key), length, now}
";

/// Compare-and-set. `KEYS[1]` generation key; `ARGV` entry base, locator, expected
/// generation, what is expected (`''`: absent; `'>'`: a value longer than
/// `ARGV[7]` bytes; else the SHA-1 of the expected bytes), new bytes, expiry in ms
/// (`'0'`: none), largest value in bytes, backplane channel, event, offset of the
/// time stamp in the new bytes (`stamped`). Returns the time stamped (a positive
/// number; 1 when nothing was stamped) when written, 0 when the entry changed, -1
/// when the generation changed (an `invalidate_all` won).
const COMPARE_AND_SET: &str = r"
local gen = generation(KEYS[1])
if gen ~= ARGV[3] then return -1 end
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
if ARGV[4] == '' then
  if redis.call('STRLEN', key) ~= 0 then return 0 end
elseif ARGV[4] == '>' then
  if redis.call('STRLEN', key) <= tonumber(ARGV[7]) then return 0 end
else
  local current = redis.call('GET', key)
  if (not current) or redis.sha1hex(current) ~= ARGV[4] then return 0 end
end
local value, written = stamped(ARGV[5], tonumber(ARGV[10]))
if ARGV[6] == '0' then
  redis.call('SET', key, value)
else
  redis.call('SET', key, value, 'PX', ARGV[6])
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
if written > 0 then return written end
return 1
";

/// `expire`: marks the record outdated in place, keeping its bytes' time to live.
/// `KEYS[1]` generation key; `ARGV` entry base, locator, format tag (one byte),
/// offset of the mark byte, backplane channel, event. Only a record of that format
/// is marked; the event goes out either way, as `REMOVE`'s does. Returns 1 when
/// marked.
const MARK: &str = r"
local gen = generation(KEYS[1])
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local at = tonumber(ARGV[4])
local current = redis.call('GET', key)
local marked = 0
if current and #current > at and string.sub(current, 1, 1) == ARGV[3] then
  local pttl = redis.call('PTTL', key)
  local value = string.sub(current, 1, at) .. '\1' .. string.sub(current, at + 2)
  if pttl > 0 then
    redis.call('SET', key, value, 'PX', pttl)
    marked = 1
  elseif pttl == -1 then
    redis.call('SET', key, value)
    marked = 1
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return marked
";

/// `KEYS[1]` generation key; `ARGV` entry base, locator, backplane channel, event.
/// The event goes out even when nothing was deleted: other processes' near caches
/// may hold what Redis no longer does.
const REMOVE: &str = r"
local gen = generation(KEYS[1])
local removed = redis.call('DEL', ARGV[1] .. gen .. ':' .. ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return removed
";

/// Deletes the entry only if it still holds exactly the bytes given (by SHA-1):
/// undoes a write that an `invalidate` of this process overtook. `KEYS[1]`
/// generation key; `ARGV` entry base, locator, generation, SHA-1, backplane channel,
/// event.
const DELETE_IF: &str = r"
local gen = generation(KEYS[1])
if gen ~= ARGV[3] then return 0 end
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local current = redis.call('GET', key)
if current and redis.sha1hex(current) == ARGV[4] then
  redis.call('DEL', key)
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return 1
end
return 0
";

/// `invalidate_all`: the next generation. `KEYS[1]` generation key; `ARGV` backplane
/// channel, event.
const NEXT_GENERATION: &str = r"
generation(KEYS[1])
local gen = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return gen
";

/// Registers a build's fingerprint with the time Redis first saw it, once, and
/// returns that time (microseconds, as a string). `KEYS[1]` builds hash; `ARGV[1]`
/// the fingerprint.
const REGISTER_BUILD: &str = r"
local seen = redis.call('HGET', KEYS[1], ARGV[1])
if seen then return seen end
if redis.replicate_commands then redis.replicate_commands() end
local now = redis.call('TIME')
seen = now[1] .. string.format('%06d', tonumber(now[2]))
redis.call('HSET', KEYS[1], ARGV[1], seen)
return seen
";

/// Compare-and-delete of a refresh lock. `KEYS[1]` lock key; `ARGV[1]` token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Takes a miss lock, or says who holds it. `KEYS[1]` miss lock key; `ARGV` the
/// holder's value (token, `:`, its version), ttl in ms. Returns nil when taken,
/// else the holder's value.
const TAKE_MISS: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
";

/// Compare-and-expire of a refresh lock: renews it while its holder runs.
/// `KEYS[1]` lock key; `ARGV` token, ttl in ms. Returns 1 when renewed, 0 when the
/// lock is no longer the holder's.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// The scripts, hashed once (`EVALSHA`, falling back to `EVAL` after a restart).
pub(super) struct Scripts {
    pub(super) read: Script,
    pub(super) compare_and_set: Script,
    pub(super) mark: Script,
    pub(super) remove: Script,
    pub(super) delete_if: Script,
    pub(super) next_generation: Script,
    pub(super) register_build: Script,
    pub(super) unlock: Script,
    pub(super) renew: Script,
    pub(super) take_miss: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let with_generation = |body: &str| Script::new(&format!("{GENERATION}{body}"));
        let with_time = |body: &str| Script::new(&format!("{GENERATION}{TIME}{body}"));
        Scripts {
            read: with_time(READ),
            compare_and_set: with_time(COMPARE_AND_SET),
            mark: with_generation(MARK),
            remove: with_generation(REMOVE),
            delete_if: with_generation(DELETE_IF),
            next_generation: with_generation(NEXT_GENERATION),
            register_build: Script::new(REGISTER_BUILD),
            unlock: Script::new(UNLOCK),
            renew: Script::new(RENEW),
            take_miss: Script::new(TAKE_MISS),
        }
    }
}
