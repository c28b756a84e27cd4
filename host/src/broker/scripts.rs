//! The Lua scripts, run atomically by the broker. [`STORE_RESULTS`]: a worker's results; it
//! acknowledges each input and announces its result only if the input was still
//! unacknowledged, so whichever run of an input answers first is its one result and later runs
//! (after a takeover) are dropped. [`SHARED_CALL`] and [`SHARED_SETTLE`]: a job's shared
//! state and the journal that makes a retried input's calls exactly-once.

/// `KEYS[1]` the input stream, `KEYS[2]` the result stream, `KEYS[3]` the job's stats (a
/// hash), `KEYS[4]` its recent failures (a list); `ARGV[1]` the consumer group, `ARGV[2]` the
/// result stream's TTL in milliseconds, `ARGV[3]` how many failures the list keeps, then for
/// each result (input entry id, encoded result, its kind: `ok` or a failure's, the failure as
/// a JSON object or empty). Acknowledges and deletes each input that is still pending,
/// appends its result and counts it in the stats (`done`, and `f:KIND` for a failure, which
/// also goes on the list); returns how many results were stored.
pub const STORE_RESULTS: &str = r"
local stored = 0
local failed = 0
for i = 4, #ARGV, 4 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('XADD', KEYS[2], '*', 'r', ARGV[i + 1])
    redis.call('HINCRBY', KEYS[3], 'done', 1)
    if ARGV[i + 2] ~= 'ok' then
      redis.call('HINCRBY', KEYS[3], 'f:' .. ARGV[i + 2], 1)
      redis.call('LPUSH', KEYS[4], ARGV[i + 3])
      failed = failed + 1
    end
    stored = stored + 1
  end
end
if failed > 0 then
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1)
end
if stored > 0 then
  for k = 2, 4 do
    if redis.call('PTTL', KEYS[k]) < 0 then
      redis.call('PEXPIRE', KEYS[k], ARGV[2])
    end
  end
end
return stored
";

/// A task's call to the job's shared state (`mpwasm:shared`), answered atomically and
/// journaled per input as the local [`crate::shared::journal`] does: a retried input (taken
/// over by another worker, or run again by this one) replays the calls its earlier attempt
/// made, in order, when they match, and changes nothing again. An attempt replaced by a newer
/// one is refused from then on; a call sent again by a reconnecting worker (the same call
/// number) gets the answer it got the first time.
///
/// `KEYS`: 1 the store (a hash), 2 the keys holding integers (a set), 3 the job's shared meta
/// (a hash: `bytes`, `limit`, `requests`), 4 the journal (a hash), 5 the queue names (a set),
/// 6 the queue the call names (a list; any key for other calls), 7 the stream of added inputs,
/// 8 the job record (gone: the job is over, the call is refused and nothing is created).
/// `ARGV`: 1 the operation, 2 the input's index, 3 the attempt (`worker/batch/position`), 4
/// the call's number on its worker, 5 the call's fingerprint, then the operation's arguments.
///
/// Returns `o` + the answer as JSON, `e` + the message the task fails with, `w` (a `pop` that
/// found nothing and will ask again: not journaled), `s` (a call of a replaced attempt, or of
/// a job that is over: refused), or `r` + the id of a `submit` request.
pub const SHARED_CALL: &str = r#"
local op, task, attempt, nonce, print = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local kv, ints, meta, journal, qnames, queue, added, record =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ttl = redis.call('PTTL', record)
if ttl == -2 then return 's' end
local recfield, deadfield = 'r:' .. task, 'd:' .. task
-- The record: attempt, cursor, len, hi (the most entries ever), the last call's number.
local ra, cursor, len, hi, last = attempt, 0, 0, 0, ''
local rec = redis.call('HGET', journal, recfield)
if rec then
  local a, c, l, h, n = string.match(rec, '^(.*)\n(%d+)\n(%d+)\n(%d+)\n(.*)$')
  if a then ra, cursor, len, hi, last = a, tonumber(c), tonumber(l), tonumber(h), n end
end
local function entry(at)
  local e = redis.call('HGET', journal, 'e:' .. task .. ':' .. at)
  if not e then return nil, nil end
  local nl = string.find(e, '\n', 1, true)
  if not nl then return nil, nil end
  return string.sub(e, 1, nl - 1), string.sub(e, nl + 1)
end
if ra == attempt and nonce == last and cursor > 0 then
  -- The same call again (its worker reconnected and sent it twice): the same answer.
  local _, answer = entry(cursor - 1)
  if answer then return answer end
end
if ra ~= attempt then
  local dead = redis.call('HGET', journal, deadfield) or ''
  if string.find('\n' .. dead .. '\n', '\n' .. attempt .. '\n', 1, true) then return 's' end
  if rec then redis.call('HSET', journal, deadfield, dead .. ra .. '\n') end
  ra, cursor = attempt, 0
end
local function save(number)
  redis.call('HSET', journal, recfield, ra .. '\n' .. cursor .. '\n' .. len .. '\n' .. hi .. '\n' .. number)
end
local function keep_alive()
  if ttl > 0 then
    for _, key in ipairs({kv, ints, meta, journal, qnames, queue, added}) do
      if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ttl) end
    end
  end
end
if cursor < len then
  local recorded, answer = entry(cursor)
  if recorded == print then
    cursor = cursor + 1
    save(nonce)
    keep_alive()
    return answer
  end
  len = cursor
end

local limit = tonumber(redis.call('HGET', meta, 'limit') or '67108864')
local reserved = 'mpwasm:queues'
local function bytes() return tonumber(redis.call('HGET', meta, 'bytes') or '0') end
local function grow(delta) if delta ~= 0 then redis.call('HINCRBY', meta, 'bytes', delta) end end
local function too_big(delta)
  local total = bytes() + delta
  if delta > 0 and total > limit then
    return 'ethe shared store would grow to ' .. total .. ' bytes, past its limit of ' .. limit ..
      ' bytes (--shared-limit); raise the limit or store less'
  end
  return nil
end
local function refuse_reserved(key)
  if key == reserved then
    return 'ethe key `' .. reserved .. '` is reserved (--shared-out saves the queues under it): choose another'
  end
  return nil
end
-- The start of a value, for a message, without a cut character.
local function shown(value)
  local start = string.sub(value, 1, 40)
  return (string.gsub(start, '[\192-\255][\128-\191]*$', ''))
end
local function put(key, value)
  local old = redis.call('HGET', kv, key)
  local delta = #key + #value - (old and (#key + #old) or 0)
  local refused = too_big(delta)
  if refused then return refused end
  redis.call('HSET', kv, key, value)
  redis.call('SREM', ints, key)
  grow(delta)
  return nil
end
local function remove(key)
  local old = redis.call('HGET', kv, key)
  if not old then return false end
  redis.call('HDEL', kv, key)
  redis.call('SREM', ints, key)
  grow(-(#key + #old))
  return true
end

local function run()
  if op == 'get' then
    local value = redis.call('HGET', kv, ARGV[6])
    if value then return 'o' .. cjson.encode(value) end
    return 'onull'
  elseif op == 'set' then
    local refused = refuse_reserved(ARGV[6]) or put(ARGV[6], ARGV[7])
    return refused or 'onull'
  elseif op == 'incr' then
    local key = ARGV[6]
    local refused = refuse_reserved(key)
    if refused then return refused end
    local old = redis.call('HGET', kv, key)
    if old and not string.match(old, '^%-?%d+$') then
      -- Text holding an integer counts, as in a local store: ' 5', '+5', '007'.
      local sign, digits = string.match(old, '^%s*([%+%-]?)0*(%d+)%s*$')
      if not digits then
        return 'e`' .. key .. '` holds "' .. shown(old) .. '", which is not an integer, so it cannot be incremented'
      end
      if sign == '+' then sign = '' end
      redis.call('HSET', kv, key, sign .. digits)
    end
    local done = redis.pcall('HINCRBY', kv, key, ARGV[7])
    if type(done) == 'table' and done.err then
      if old then redis.call('HSET', kv, key, old) end
      return 'e`' .. key .. '` holds ' .. shown(old or '0') .. ': adding ' .. ARGV[7] .. ' overflows an s64'
    end
    local new = redis.call('HGET', kv, key)
    local delta = #key + #new - (old and (#key + #old) or 0)
    refused = too_big(delta)
    if refused then
      if old then redis.call('HSET', kv, key, old) else redis.call('HDEL', kv, key) end
      return refused
    end
    redis.call('SADD', ints, key)
    grow(delta)
    return 'o' .. new
  elseif op == 'delete' then
    if remove(ARGV[6]) then return 'otrue' end
    return 'ofalse'
  elseif op == 'compare-and-swap' then
    local key = ARGV[6]
    local refused = refuse_reserved(key)
    if refused then return refused end
    local current = redis.call('HGET', kv, key)
    local holds
    if ARGV[7] == '0' then holds = not current else holds = current == ARGV[8] end
    if not holds then return 'ofalse' end
    if ARGV[9] == '1' then
      refused = put(key, ARGV[10])
      if refused then return refused end
    else
      remove(key)
    end
    return 'otrue'
  elseif op == 'keys' then
    -- Sorted by the worker (Lua's order follows the server's locale).
    local prefix, found = ARGV[6], {}
    for _, key in ipairs(redis.call('HKEYS', kv)) do
      if string.sub(key, 1, #prefix) == prefix then table.insert(found, key) end
    end
    if #found == 0 then return 'o[]' end
    return 'o' .. cjson.encode(found)
  elseif op == 'push' then
    local name, value = ARGV[6], ARGV[7]
    local cost = #value
    if redis.call('LLEN', queue) == 0 then cost = cost + #name end
    local refused = too_big(cost)
    if refused then return refused end
    redis.call('RPUSH', queue, value)
    redis.call('SADD', qnames, name)
    grow(cost)
    return 'onull'
  elseif op == 'pop' then
    local name = ARGV[6]
    local item = redis.call('LPOP', queue)
    if item then
      local freed = #item
      if redis.call('LLEN', queue) == 0 then
        redis.call('SREM', qnames, name)
        freed = freed + #name
      end
      grow(-freed)
      return 'o' .. cjson.encode(item)
    end
    if ARGV[7] == '1' then return 'onull' end
    return 'w'
  elseif op == 'len' then
    return 'o' .. redis.call('LLEN', queue)
  elseif op == 'submit' then
    local request = task .. ':' .. redis.call('HINCRBY', meta, 'requests', 1)
    redis.call('XADD', added, '*', 'p', task, 'q', request, 'v', ARGV[6])
    return 'r' .. request
  end
  return 'eno such shared function: ' .. op
end

local answer = run()
if answer == 'w' then
  -- Not an answer yet: the same call asks again (with the same number).
  save(last)
  keep_alive()
  return answer
end
if len < 65536 then
  redis.call('HSET', journal, 'e:' .. task .. ':' .. len, print .. '\n' .. answer)
  len = len + 1
  if len > hi then hi = len end
end
cursor = cursor + 1
save(nonce)
keep_alive()
return answer
"#;

/// Forgets the journal of inputs with a final outcome. `KEYS[1]` the journal; `ARGV` the
/// inputs' indices.
pub const SHARED_SETTLE: &str = r"
for i = 1, #ARGV do
  local rec = redis.call('HGET', KEYS[1], 'r:' .. ARGV[i])
  if rec then
    local hi = tonumber(string.match(rec, '\n(%d+)\n[^\n]*$')) or 0
    for j = 0, hi - 1 do redis.call('HDEL', KEYS[1], 'e:' .. ARGV[i] .. ':' .. j) end
    redis.call('HDEL', KEYS[1], 'r:' .. ARGV[i])
  end
  redis.call('HDEL', KEYS[1], 'd:' .. ARGV[i])
end
return 0
";
