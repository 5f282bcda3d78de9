//! The Lua scripts: each runs atomically in Redis, in one round trip, and touches
//! one hash slot with every key it touches declared in `KEYS` (what Redis Cluster
//! requires; the same scripts run on one server).
//!
//! An entry is a hash under `{prefix}swr:{<tag>}:e:<locator>` of `g`, the generation
//! it was written under, and `v`, the record's bytes. The generation is the integer
//! under its bucket's key `{prefix}swr:{<tag>}:gen` (same tag, so same slot), which
//! `invalidate_all` increments in every bucket: an entry whose `g` is not its
//! bucket's generation is of before an `invalidate_all`, and counts as absent (the
//! next write replaces it, the sweep deletes it). Reading the generation and the
//! entry in one script makes a read or write and the generation it belongs to one
//! atomic step.
//!
//! A generation key that is missing (deleted by someone) or holds anything but a
//! canonical integer is replaced, by whichever script meets it first, with Redis's
//! clock in microseconds: a generation never seen before, above every one counted up
//! from an earlier such start, so entries of older generations stay dead instead of
//! coming back, and no access fails on it. A key under an entry's name that is not
//! such a hash (another type) counts as absent too, and the next write replaces it.

use redis::Script;

/// `generation(key)`: the current generation, repaired first if need be;
/// `length(key, gen)`: the length of the entry's record if it is of generation
/// `gen`, else 0.
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
local function length(key, gen)
  if redis.pcall('HGET', key, 'g') ~= gen then return 0 end
  return redis.call('HSTRLEN', key, 'v')
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

/// `KEYS` generation, entry; `ARGV[1]` largest value in bytes. Returns
/// `{generation, bytes or nil, length, now}`: the bytes are left out (nil, with
/// their length) when they are longer than the largest value; `now` is Redis's
/// clock (`now_us`), against which the record's stamp gives its age. A hit is two
/// calls on the entry: the record's length, then its generation and bytes together.
const READ: &str = r"
local gen = generation(KEYS[1])
local now = now_us()
local n = redis.pcall('HSTRLEN', KEYS[2], 'v')
if type(n) ~= 'number' or n == 0 then return {gen, false, 0, now} end
if n > tonumber(ARGV[1]) then
  if redis.call('HGET', KEYS[2], 'g') ~= gen then return {gen, false, 0, now} end
  return {gen, false, n, now}
end
local found = redis.call('HMGET', KEYS[2], 'g', 'v')
if found[1] ~= gen then return {gen, false, 0, now} end
return {gen, found[2], n, now}
";

/// Compare-and-set. `KEYS` generation, entry; `ARGV` expected generation, what is
/// expected (`''`: absent; `'>'`: a value longer than `ARGV[5]` bytes; else the
/// SHA-1 of the expected bytes), new bytes, expiry in ms (`'0'`: none), largest
/// value in bytes, backplane channel, event, offset of the time stamp in the new
/// bytes (`stamped`). Returns the time stamped (a positive number; 1 when nothing
/// was stamped) when written, 0 when the entry changed, -1 when the generation
/// changed (an `invalidate_all` won).
const COMPARE_AND_SET: &str = r"
local gen = generation(KEYS[1])
if gen ~= ARGV[1] then return -1 end
local n = length(KEYS[2], gen)
if ARGV[2] == '' then
  if n ~= 0 then return 0 end
elseif ARGV[2] == '>' then
  if n <= tonumber(ARGV[5]) then return 0 end
else
  if n == 0 or redis.sha1hex(redis.call('HGET', KEYS[2], 'v')) ~= ARGV[2] then return 0 end
end
local value, written = stamped(ARGV[3], tonumber(ARGV[8]))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'g', gen, 'v', value)
if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
redis.call('PUBLISH', ARGV[6], ARGV[7])
if written > 0 then return written end
return 1
";

/// `expire`: marks the record outdated in place, keeping its time to live (`HSET`
/// leaves the key's expiry as it is). `KEYS` generation, entry; `ARGV` format tag
/// (one byte), offset of the mark byte, backplane channel, event. Only a record of
/// that format, of the current generation, is marked; the event goes out either
/// way, as `REMOVE`'s does. Returns 1 when marked.
const MARK: &str = r"
local gen = generation(KEYS[1])
local at = tonumber(ARGV[2])
local marked = 0
if length(KEYS[2], gen) > at then
  local current = redis.call('HGET', KEYS[2], 'v')
  if string.sub(current, 1, 1) == ARGV[1] then
    local value = string.sub(current, 1, at) .. '\1' .. string.sub(current, at + 2)
    redis.call('HSET', KEYS[2], 'v', value)
    marked = 1
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return marked
";

/// `KEYS[1]` entry; `ARGV` backplane channel, event. The event goes out even when
/// nothing was deleted: other processes' near caches may hold what Redis no longer
/// does.
const REMOVE: &str = r"
local removed = redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return removed
";

/// Deletes the entry only if it still holds exactly the bytes given (by SHA-1), in
/// the generation given: undoes a write that an `invalidate` of this process
/// overtook. `KEYS` generation, entry; `ARGV` generation, SHA-1, backplane channel,
/// event.
const DELETE_IF: &str = r"
local gen = generation(KEYS[1])
if gen ~= ARGV[1] or length(KEYS[2], gen) == 0 then return 0 end
if redis.sha1hex(redis.call('HGET', KEYS[2], 'v')) == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0
";

/// `invalidate_all`: the next generation of every bucket given. `KEYS` the buckets'
/// generation keys (on a cluster, of one slot). Returns how many were bumped.
const NEXT_GENERATION: &str = r"
for i = 1, #KEYS do
  generation(KEYS[i])
  redis.call('INCR', KEYS[i])
end
return #KEYS
";

/// The sweep after `invalidate_all`: deletes those of the entries given that are of
/// another generation than their bucket's. `KEYS` pairs of a bucket's generation
/// key and one of its entries (on a cluster, all of one slot). Returns how many
/// were deleted.
const SWEEP: &str = r"
local swept = 0
for i = 1, #KEYS - 1, 2 do
  local gen = generation(KEYS[i])
  local g = redis.pcall('HGET', KEYS[i + 1], 'g')
  if type(g) == 'string' and g ~= gen then
    swept = swept + redis.call('UNLINK', KEYS[i + 1])
  end
end
return swept
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
    pub(super) sweep: Script,
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
            remove: Script::new(REMOVE),
            delete_if: with_generation(DELETE_IF),
            next_generation: with_generation(NEXT_GENERATION),
            sweep: with_generation(SWEEP),
            register_build: Script::new(REGISTER_BUILD),
            unlock: Script::new(UNLOCK),
            renew: Script::new(RENEW),
            take_miss: Script::new(TAKE_MISS),
        }
    }
}
