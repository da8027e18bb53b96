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
 * A Lua table constructor with room for `size` entries in its array part. Lua 5.1 grows a table at every power
 * of two, and a table filled out of order (as counters are, in the order their hash's fields come) is rehashed
 * each time: per-counter tables made this way saved 4 of 42 µs per admission of 18 counters.
 */
function roomFor(size: number): string {
  return `{${Array.from({ length: size }, () => 'nil').join(', ')}}`;
}

/** Counters per admission with room made for them (a key, its project, org and user with every limit: 28). */
const counterRoom = roomFor(32);

/**
 * Admissions, atomically, each across every counter of every scope (Redis runs a script alone; the admissions
 * asked for in one turn of the event loop go in one call, see RedisLimitStore.admit), in the order given, so
 * each sees what the ones before it added.
 *
 * A scope is one hash. A counter is one limit's current window in it, named `<limit>:<label>` (labels from
 * `limit-window.ts`: `rpm:20250131T2359`, `daily_usd:20250131`, `token_budget:total`); the field of that name
 * holds `used` (requests counted, usage settled), and `<limit>:<label>:<minute>` the sum of the live holds that
 * lapse at the end of that epoch minute. Each scope is read with one HGETALL, and the fields found dead are
 * deleted with one HDEL, even by a refusal: holds whose minute has ended (a request that never settled), and
 * fields of an earlier window of a limit this admission counts (`label <` the current one: the labels of one
 * limit have one length and sort as time does; a later label, from a replica whose clock is ahead, is left
 * alone and not counted). Then, only if every counter of the admission has `used + held < max` and
 * `used + held + amount <= max`, every amount is added (to `used`, or to the admission's hold field): the new
 * values are computed here and written with one HSET per scope, exact since each is at most `max` (below
 * 2^53; past 2^53, where a double would round, HINCRBY adds instead). A refusal adds nothing.
 *
 * Expiry, per hash (Redis 7.0 has no TTL per field): a hash lives until the latest end of the windows it holds
 * (plus the settlement grace for held counters), and for ever once it holds a `total` window (the lifetime token
 * budget), which must never be lost. The TTL is looked at only when an admission adds to a window of which
 * the hash had no live field (a new minute, hour, ...; once per window, not per request): a hash that had no
 * live field gets the longest TTL of the counters it adds to; an existing one is extended to it (PTTL, then
 * PEXPIRE if longer; never shortened), unless it holds a `total` window; and one that gets its first `total`
 * window is PERSISTed. So every window's fields live at least to that window's end (plus grace), which the
 * settlement script relies on.
 *
 * KEYS: the admissions' scope hashes, one admission after the other. ARGV: one JSON array per admission: its
 * hold minute, its time (epoch ms), its number of scopes; per scope its number of counters and its TTL ms (the
 * longest of the counters it adds to, -1 when one of them never expires); per counter, scope after scope, its
 * window, max, amount and `1` to hold (`0` to count at once). One argument per admission: the client encodes
 * each argument of a command on its own, and Redis's cjson decodes the array in about half the time of
 * splitting a packed string in Lua. Returns one string per admission, in order:
 * `<1|0 admitted>|<used1>,<held1>,<used2>,<held2>,...` as found before it, per counter in ARGV order (decimal
 * integers, exact: `used` as stored, holds summed below 2^53 and printed with %d). One bulk string rather
 * than 1 + 2 per counter integers: the client decodes each element of a reply on its own.
 *
 * Lua compares amounts as doubles, exact up to 2^53, which the callers guarantee. Redis time per admission of
 * 18 counters in 3 scopes: 6 commands (HGETALL and HSET per scope) where one hash per counter took 36; the Lua
 * around them is now most of the cost, hence the reused tables and names below.
 */
export const admitScript = script(`
local exact = 2 ^ 53
local result = {}
local k = 0
-- Hold field names by window, for one hold minute (most calls have one): built once, not per scope.
local holdMinute, holdSuffix, holdNames = nil, nil, nil
-- Fields known by name, for the scope being read: a counter's used field (its window) maps to its index i, its
-- hold field of the admission's minute to -i. Emptied after each scope and used again (scopes mostly name the
-- same fields, so the table keeps its size).
local want = {}
for n = 1, #ARGV do
  local v = cjson.decode(ARGV[n])
  local now, scopeCount = v[2], v[3]
  if v[1] ~= holdMinute then
    holdMinute, holdSuffix, holdNames = v[1], ':' .. string.format('%d', v[1]), {}
  end
  local ownHoldLive = holdMinute * 60000 > now
  local base = 3 + 2 * scopeCount
  local admitted = true
  -- Per counter (index i, across scopes), its window as found: used (as stored), live holds summed (and the
  -- text of the only one), this admission's hold field.
  local used, held, heldText, mine = ${counterRoom}, ${counterRoom}, ${counterRoom}, ${counterRoom}
  -- Per scope: its hash had no live field; it holds the lifetime field of a limit not counted here.
  local fresh, lifetime = {}, {}
  local totals = ${roomFor(64)}
  local first = 0
  for s = 1, scopeCount do
    local key = KEYS[k + s]
    local last = first + v[2 + 2 * s]
    for i = first + 1, last do
      local window = v[base + 4 * i - 3]
      want[window] = i
      if v[base + 4 * i] == 1 and ownHoldLive then
        local name = holdNames[window]
        if name == nil then
          name = window .. holdSuffix
          holdNames[window] = name
        end
        want[name] = -i
      end
    end
    local labels = nil
    local dead = {}
    local fields = redis.call('HGETALL', key)
    for j = 1, #fields, 2 do
      local name = fields[j]
      local i = want[name]
      local hold = false
      if i == nil then
        local window, limit, label, minute = string.match(name, '^(([^:]*):([^:]*)):?(%d*)$')
        minute = tonumber(minute)
        if minute and minute * 60000 <= now then
          dead[#dead + 1] = name
        elseif window then
          i = want[window]
          if i == nil then
            -- Another window: an earlier one of a limit counted here is past.
            if labels == nil then
              labels = {}
              for c = first + 1, last do
                local l, w = string.match(v[base + 4 * c - 3], '^([^:]*):(.*)$')
                labels[l] = w
              end
            end
            local currentLabel = labels[limit]
            if currentLabel and label < currentLabel then
              dead[#dead + 1] = name
            elseif label == 'total' then
              lifetime[s] = true
            end
          else
            hold = minute ~= nil
          end
        end
      elseif i < 0 then
        i = -i
        hold = true
        mine[i] = tonumber(fields[j + 1])
      else
        used[i] = fields[j + 1]
      end
      if hold then
        local text = fields[j + 1]
        if held[i] == nil then
          held[i], heldText[i] = tonumber(text), text
        else
          held[i], heldText[i] = held[i] + tonumber(text), nil
        end
      end
    end
    if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
    fresh[s] = #dead * 2 == #fields
    for i = first + 1, last do
      local window = v[base + 4 * i - 3]
      want[window] = nil
      if holdNames[window] then want[holdNames[window]] = nil end
      local usedText, h = used[i] or '0', held[i] or 0
      totals[2 * i - 1] = usedText
      totals[2 * i] = heldText[i] or (h == 0 and '0') or string.format('%d', h)
      local total = tonumber(usedText) + h
      local max = v[base + 4 * i - 2]
      if total >= max or total + v[base + 4 * i - 1] > max then admitted = false end
    end
    first = last
  end
  result[n] = (admitted and '1|' or '0|') .. table.concat(totals, ',', 1, 2 * first)
  if admitted then
    first = 0
    for s = 1, scopeCount do
      local key = KEYS[k + s]
      local last = first + v[2 + 2 * s]
      local writes, w = ${roomFor(16)}, 0
      local newWindow = false
      for i = first + 1, last do
        local amount = v[base + 4 * i - 1]
        if amount ~= 0 then
          local window = v[base + 4 * i - 3]
          local name, sum
          if v[base + 4 * i] == 1 then
            name = holdNames[window] or window .. holdSuffix
            sum = (mine[i] or 0) + amount
          else
            name = window
            sum = tonumber(used[i] or '0') + amount
          end
          if sum < exact then
            writes[w + 1], writes[w + 2] = name, string.format('%d', sum)
            w = w + 2
          else
            redis.call('HINCRBY', key, name, string.format('%d', amount))
          end
          if used[i] == nil and held[i] == nil then newWindow = true end
        end
      end
      if w > 0 then redis.call('HSET', key, unpack(writes, 1, w)) end
      if newWindow then
        local ttl = v[3 + 2 * s]
        if ttl < 0 then
          if not fresh[s] then redis.call('PERSIST', key) end
        elseif fresh[s] then
          redis.call('PEXPIRE', key, ttl)
        else
          local forever = lifetime[s]
          for i = first + 1, last do
            if (used[i] or held[i]) and string.sub(v[base + 4 * i - 3], -6) == ':total' then forever = true end
          end
          if not forever and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
        end
      end
      first = last
    end
  end
  k = k + scopeCount
end
return result
`);

/**
 * Settlements, atomically, each at most once per reservation (the settlements of one event-loop turn go in one
 * call, see RedisLimitStore.settle): a settlement's id joins a set of settled ids (one set per hold minute, kept
 * for the TTL it names), so a resend after a lost reply is a no-op. Then, for each counter of each scope, the
 * reservation's share is taken off its hold field (`<window>:<minute>`), if the hold is still there, and the
 * real amount added to `used` (`<window>`), if the window is still there (a field of it exists: its hash has
 * not expired, and no later window's admission has deleted it as past; asked of the hash only when the hold
 * was not there: HEXISTS, then HSCAN for holds of other minutes). All by HINCRBY, exact in 64 bits: the hold
 * first, which answers whether it was there (a hold is never stored at 0 or below, so a result of exactly
 * minus the share means this very call created the field, which is deleted again at once), then `used`, then
 * an HDEL of the hold if it reached 0. Asking HEXISTS first would be one call more per counter, and each call
 * walks the dozen fields of a scope's hash (measured: 30-31 µs per settlement of 12 held counters, against 27
 * this way; reading them with HMGET and writing one HSET per scope, 32-33 µs, the Lua around it costing more
 * than the calls it saves). So nothing is left in a window without a field: a settlement never leaves a hash
 * behind (it would have no TTL) nor revives a past window; and `used` is added before a hold is deleted, so a
 * hash is never emptied and then written again.
 *
 * KEYS: for each settlement, its set of settled ids, then its scope hashes. ARGV: one JSON array per
 * settlement: the hold minute, the reservation id, the set's TTL ms, the number of scopes, the number of
 * counters of each; per counter its window, minus the amount reserved and the amount used (decimal strings,
 * handed to HINCRBY as they are).
 * Returns how many settlements were new.
 */
export const settleScript = script(`
-- Whether the hash has a field of the window: its used field, or a hold of any minute.
local function windowThere(key, window)
  if redis.call('HEXISTS', key, window) == 1 then return true end
  local cursor = '0'
  repeat
    local page = redis.call('HSCAN', key, cursor, 'MATCH', window .. ':*', 'COUNT', 100)
    if #page[2] > 0 then return true end
    cursor = page[1]
  until cursor == '0'
  return false
end
local k = 1
local settled = 0
-- Hold field names by window, for one hold minute, as in the admission script.
local holdMinute, holdSuffix, holdNames = nil, nil, nil
for n = 1, #ARGV do
  local v = cjson.decode(ARGV[n])
  local scopeCount = v[4]
  if redis.call('SADD', KEYS[k], v[2]) == 1 then
    settled = settled + 1
    redis.call('PEXPIRE', KEYS[k], v[3])
    if v[1] ~= holdMinute then
      holdMinute, holdSuffix, holdNames = v[1], ':' .. string.format('%d', v[1]), {}
    end
    local base = 4 + scopeCount
    local first = 0
    for s = 1, scopeCount do
      local key = KEYS[k + s]
      local count = v[4 + s]
      for c = 1, count do
        local at = base + 3 * (first + c)
        local window, refund, actual = v[at - 2], v[at - 1], v[at]
        local live, spent = false, nil
        if refund ~= '0' then
          local hold = holdNames[window]
          if hold == nil then
            hold = window .. holdSuffix
            holdNames[window] = hold
          end
          local left = redis.call('HINCRBY', key, hold, refund)
          if left == tonumber(refund) then
            redis.call('HDEL', key, hold)
          else
            live = true
            if left <= 0 then spent = hold end
          end
        end
        if actual ~= '0' and (live or windowThere(key, window)) then
          redis.call('HINCRBY', key, window, actual)
        end
        if spent then redis.call('HDEL', key, spent) end
      end
      first = first + count
    end
  end
  k = k + 1 + scopeCount
end
return settled
`);

/**
 * Seeds (RedisLimitStore.seed, at a replica's start and when its connection comes back): for each scope's hash
 * (KEYS), each counter of its ARGV entry (a JSON array of `[field, used, ttl ms or -1]`) is raised to `used`
 * where it holds less (absent counts as 0), never lowered: a hash Redis kept already counts at least what the
 * ledger has (a request is settled before its record is written), and one Redis lost gets the ledger's
 * amounts back, on top of nothing or of what was counted since. Expiry as an admission sets it when a window
 * is new to the hash: a lifetime field (`token_budget:total`) makes the hash persistent; otherwise a hash
 * without one lives at least until the latest window written ends. Returns how many fields were raised.
 */
export const seedScript = script(`
local raised = 0
for n = 1, #KEYS do
  local key = KEYS[n]
  local forever, longest, fresh = false, 0, false
  -- Each window the hash has (by a used field or a hold), and each used amount.
  local present, stored = {}, {}
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    present[string.match(fields[j], '^([^:]*:[^:]*)')] = true
    stored[fields[j]] = tonumber(fields[j + 1])
  end
  for _, counter in ipairs(cjson.decode(ARGV[n])) do
    local field, used = counter[1], counter[2]
    if used > (stored[field] or 0) then
      redis.call('HSET', key, field, string.format('%d', used))
      raised = raised + 1
      if not present[field] then
        fresh = true
        if counter[3] < 0 then forever = true elseif counter[3] > longest then longest = counter[3] end
      end
    end
  end
  if fresh then
    if forever then
      redis.call('PERSIST', key)
    elseif redis.call('HEXISTS', key, 'token_budget:total') == 0 and redis.call('PTTL', key) < longest then
      redis.call('PEXPIRE', key, longest)
    end
  end
end
return raised
`);
