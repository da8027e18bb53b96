import { createHash } from 'node:crypto';

/** A Lua script and its SHA-1, the name EVALSHA calls it by. */
export interface LimitScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LimitScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * Admissions, atomically, each across every counter of every scope (Redis runs a script alone; the admissions
 * asked for in one turn of the event loop go in one call, see RedisLimitStore.admit), in the order given, so
 * each sees what the ones before it added.
 * A counter is a hash: `used` (requests counted, usage settled) and `held:<minute>` (the sum of live holds
 * that lapse at the end of that epoch minute). Holds whose minute has ended are dropped first: a request
 * that never settled. Then, only if every counter of the admission has `used + held < max` and
 * `used + held + amount <= max`, every amount is added (to `used`, or to the admission's hold field); a key
 * this admission creates (or empties: its last holds lapsed) gets its TTL, its window's end plus the settlement
 * grace for held counters, which is the same instant for every admission of one window, so setting it once is
 * enough (a PEXPIRE per counter per request was a fifth of the script's Redis time). A refusal adds nothing.
 *
 * KEYS: the admissions' counters, one admission after the other. ARGV: one entry per admission: its hold
 * field, its number of counters, its time (epoch ms) and one comma-separated list with four values per counter
 * (max, amount, `1` to hold or `0` to count at once, TTL ms or `0` for no expiry), separated by `|`. Packed
 * rather than four arguments per counter: the client encodes each argument of a command on its own, and 72
 * arguments cost twice the client CPU of one (measured with ioredis: 30-37 µs against 16-22 µs per call).
 * Returns one string per admission, in order: `<1|0 admitted>|<used1>,<held1>,<used2>,<held2>,...` as found
 * before it (decimal integers, exact: `used` as stored, holds summed below 2^53 and printed with %d). One bulk
 * string rather than 1 + 2 per counter integers: the client decodes each element of a reply on its own.
 *
 * Amounts travel as decimal strings and are added by HINCRBY (exact 64-bit); Lua compares them as doubles,
 * exact up to 2^53, which the callers guarantee.
 */
export const admitScript = script(`
local result = {}
local k = 0
for n = 1, #ARGV do
  local parts = {}
  for part in string.gmatch(ARGV[n], '[^|]+') do parts[#parts + 1] = part end
  local holdField, count, now = parts[1], tonumber(parts[2]), tonumber(parts[3])
  local values = {}
  if parts[4] then
    for value in string.gmatch(parts[4], '[^,]+') do values[#values + 1] = value end
  end
  local admitted = true
  local totals = {}
  local fresh = {}
  for i = 1, count do
    local key = KEYS[k + i]
    local base = (i - 1) * 4
    local max = tonumber(values[base + 1])
    local amount = tonumber(values[base + 2])
    local used, usedText, held, kept = 0, '0', 0, 0
    local fields = redis.call('HGETALL', key)
    for j = 1, #fields, 2 do
      local name = fields[j]
      if name == 'used' then
        usedText = fields[j + 1]
        used = tonumber(usedText)
        kept = kept + 1
      else
        local minute = tonumber(string.sub(name, 6))
        if minute ~= nil and minute * 60000 <= now then
          redis.call('HDEL', key, name)
        else
          kept = kept + 1
          if minute ~= nil then held = held + tonumber(fields[j + 1]) end
        end
      end
    end
    fresh[i] = kept == 0
    totals[2 * i - 1] = usedText
    totals[2 * i] = string.format('%d', held)
    if used + held >= max or used + held + amount > max then admitted = false end
  end
  result[n] = (admitted and '1|' or '0|') .. table.concat(totals, ',')
  if admitted then
    for i = 1, count do
      local key = KEYS[k + i]
      local base = (i - 1) * 4
      if values[base + 2] ~= '0' then
        local field = 'used'
        if values[base + 3] == '1' then field = holdField end
        redis.call('HINCRBY', key, field, values[base + 2])
      end
      if fresh[i] and values[base + 4] ~= '0' then redis.call('PEXPIRE', key, values[base + 4]) end
    end
  end
  k = k + count
end
return result
`);

/**
 * Settlements, atomically, each at most once per reservation (the settlements of one event-loop turn go in one
 * call, see RedisLimitStore.settle): a settlement's id joins a set of settled ids (one set per hold minute, kept
 * for the TTL it names), so a resend after a lost reply is a no-op; then for each of its counters that still
 * exists (its window has not expired), the reservation's share of its hold field is removed, if the hold has
 * not lapsed already, and the real amount added to `used`. The settlements follow each other
 * in KEYS: for each, its set of settled ids, then its counters; ARGV holds one entry per settlement: the hold
 * field, the reservation id, the set's TTL ms, the number of counters and their comma-separated values (minus
 * the amount reserved, the amount used, per counter), separated by `|`.
 * Returns how many settlements were new.
 */
export const settleScript = script(`
local k = 1
local settled = 0
for n = 1, #ARGV do
  local parts = {}
  for part in string.gmatch(ARGV[n], '[^|]+') do parts[#parts + 1] = part end
  local holdField, id, rememberMs, count = parts[1], parts[2], parts[3], tonumber(parts[4])
  local values = {}
  if parts[5] then
    for value in string.gmatch(parts[5], '[^,]+') do values[#values + 1] = value end
  end
  if redis.call('SADD', KEYS[k], id) == 1 then
    settled = settled + 1
    redis.call('PEXPIRE', KEYS[k], rememberMs)
    for i = 1, count do
      local key = KEYS[k + i]
      local refund = values[2 * i - 1]
      local actual = values[2 * i]
      -- A live hold means the key exists; only without one is EXISTS asked (one call fewer per held counter).
      -- 'used' is added before the hold is taken off: removing a hold that was the key's only field deletes
      -- the key, and adding to it after that would make it again, without its TTL, never to expire.
      local live = refund ~= '0' and redis.call('HEXISTS', key, holdField) == 1
      if actual ~= '0' and (live or redis.call('EXISTS', key) == 1) then
        redis.call('HINCRBY', key, 'used', actual)
      end
      if live and redis.call('HINCRBY', key, holdField, refund) <= 0 then redis.call('HDEL', key, holdField) end
    end
  end
  k = k + 1 + count
end
return settled
`);
