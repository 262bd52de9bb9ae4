-- _lib.lua: shared local functions, prepended to every script by scripts.py (one file per
-- script, one copy of the helpers). Nothing here writes on its own.

-- Read the fields a transition needs, validating before any write (Lua does not roll back).
-- Returns a table {status=..., helper=..., time=..., expiry=..., priority=..., attempt=...}
-- or nil plus a one-word reason ('wrongtype', 'missing', 'badfields').
local function read_execution(key)
  local f = redis.pcall('HMGET', key, 'status', 'helper', 'executionTime', 'executionExpiry',
                        'priority', 'attempt', 'token', 'leaseUntil')
  if type(f) ~= 'table' or f.err then return nil, 'wrongtype' end
  if not f[1] then return nil, 'missing' end
  local t, e, p = tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
  local a = tonumber(f[6] or '1')
  -- a planned hash does not repeat its helper: it is the key's `execution:<helper>:<seconds>`
  -- (helper names cannot contain ':'; an attempt record's key ends in `:<seconds>#<n>`)
  local helper = f[2] or string.match(key, ':(.*):')
  if not helper or not t or not e or not p or not a then return nil, 'badfields' end
  -- whole numbers only: callers parse these as integers after the script has committed
  if t ~= math.floor(t) or e ~= math.floor(e) or p ~= math.floor(p) or a ~= math.floor(a)
      or e < 0 or p < 1 or p > 5 or a < 1 then
    return nil, 'badfields'
  end
  return {status = f[1], helper = helper, time = t, expiry = e, priority = p,
          attempt = a, token = f[7], lease = tonumber(f[8])}
end

-- An execution id is `<helper>:<seconds>` (planned) or `<helper>:manual-<ms>-<4 hex>` (queued by
-- `queuectl helpers run`): (helper, its execution time in whole seconds as text), or nil when it
-- is neither. domain/ids.py's split_execution_id is the Python twin.
local function split_id(id)
  local helper, t = string.match(id, '^(.+):(%d+)$')
  if helper then return helper, t end
  local ms
  helper, ms = string.match(id, '^(.+):manual%-(%d+)%-%x%x%x%x$')
  if helper then return helper, string.format('%d', math.floor(tonumber(ms) / 1000)) end
  return nil
end

-- Record an operator change in the audit trail (docs/architecture.md): an entry in the capped
-- stream and the helper's last change. From index `from` to `to`, `args` holds: the stream's
-- MAXLEN (approximate), the helper, its last-change JSON, then the entry's fields (field, value,
-- ...). Called by the script that makes the change, after it, so a refused change records nothing.
local function record_change(stream, last, args, from, to)
  local fields = {}
  for i = from + 3, to do fields[#fields + 1] = args[i] end
  redis.call('XADD', stream, 'MAXLEN', '~', args[from], '*', unpack(fields))
  redis.call('HSET', last, args[from + 1], args[from + 2])
end

-- Metrics (the internalMetrics HASH that `queuectl serve` shows at /metrics) are counted here, by
-- the scripts that end an execution, so every path counts and no round trip is added. A script
-- that ends executions sets `metrics_key` to its KEYS entry before anything else and calls
-- flush_metrics() once, last: count_outcome only adds up in a Lua table, so a batch of outcomes
-- costs one write per distinct field, not six per execution. Writes go through redis.pcall: a
-- damaged metrics hash must never stop a transition half-way (Lua does not roll back).
-- Fields (helper names contain no '|'):
--   runs|<helper>|<status>   executions ended with that status (an attempt that is retried: error)
--   late|<le>, dur|<le>      lateness and duration histogram counts per bucket, NOT cumulative
--   late_us, dur_us          the histograms' sums, in whole microseconds (HINCRBY: no float text)
--   last_ok|<helper>         finishedAt of its latest success
-- The _count of a histogram is the sum of its buckets (the last is +Inf).
local metrics_key = false
local pending_counts = {}  -- field -> increment, written by flush_metrics
local pending_ok = {}  -- helper -> its latest success in this call
-- Upper bounds in seconds, with their text in the field name; store/metrics.py has the same
-- lists (a test compares them).
local LATENESS_BUCKETS = {{0.005, '0.005'}, {0.01, '0.01'}, {0.025, '0.025'}, {0.05, '0.05'}, {0.1, '0.1'},
                          {0.25, '0.25'}, {0.5, '0.5'}, {1, '1'}, {2.5, '2.5'}, {5, '5'}, {10, '10'},
                          {30, '30'}, {60, '60'}, {300, '300'}, {math.huge, '+Inf'}}
local DURATION_BUCKETS = {{0.01, '0.01'}, {0.05, '0.05'}, {0.1, '0.1'}, {0.25, '0.25'}, {0.5, '0.5'},
                          {1, '1'}, {2.5, '2.5'}, {5, '5'}, {10, '10'}, {30, '30'}, {60, '60'},
                          {300, '300'}, {900, '900'}, {3600, '3600'}, {math.huge, '+Inf'}}

local function add_count(field, n)
  pending_counts[field] = (pending_counts[field] or 0) + n
end

-- One observation of `seconds` (>= 0) in histogram `name`.
local function observe(name, seconds, buckets)
  if seconds ~= seconds then return end  -- NaN (a damaged time field): nothing to observe
  seconds = math.min(seconds, 1e9)  -- (inf from a damaged field: +Inf bucket, a bounded sum)
  local i = 1
  while seconds > buckets[i][1] do i = i + 1 end  -- the last bound is +Inf: the loop stops there
  add_count(name .. '|' .. buckets[i][2], 1)
  add_count(name .. '_us', math.floor(seconds * 1e6 + 0.5))
end

-- Count one execution (or attempt) that ended with `status` at `now`. `started`: when it started
-- (nil when it never did); `due`: when it was due (its executionTime, or its retry's time).
local function count_outcome(id, status, now, started, due)
  if not metrics_key then return end
  local helper = split_id(id) or '?'
  add_count('runs|' .. helper .. '|' .. status, 1)
  if started then
    if due then observe('late', math.max(0, started - due), LATENESS_BUCKETS) end
    observe('dur', math.max(0, now - started), DURATION_BUCKETS)
  end
  if status == 'success' and not (pending_ok[helper] and pending_ok[helper] >= now) then
    pending_ok[helper] = now
  end
end

-- Write what count_outcome added up: one HINCRBY per distinct field, the successes in HSETs of at
-- most 200 fields. Every script that sets metrics_key calls it once, before it returns.
local function flush_metrics()
  if not metrics_key then return end
  for field, n in pairs(pending_counts) do
    redis.pcall('HINCRBY', metrics_key, field, string.format('%d', n))
  end
  local ok = {}
  for helper, t in pairs(pending_ok) do
    ok[#ok + 1] = 'last_ok|' .. helper
    ok[#ok + 1] = string.format('%.3f', t)
    if #ok >= 400 then redis.pcall('HSET', metrics_key, unpack(ok)); ok = {} end
  end
  if #ok > 0 then redis.pcall('HSET', metrics_key, unpack(ok)) end
  pending_counts, pending_ok = {}, {}
end

-- When a claimed execution was due: its executionTime (from the id; a manual run's instant, in
-- milliseconds), or for a retry the second its retry was queued for (its score's: the retry time
-- rounded up), whichever is later.
local function due_of(id, retry_at)
  local _, t = split_id(id)
  t = tonumber(t)
  local ms = string.match(id, ':manual%-(%d+)%-%x%x%x%x$')  -- a manual run: due when it was asked for
  if ms then t = tonumber(ms) / 1000 end
  local r = tonumber(retry_at)
  if r and t then return math.max(t, math.ceil(r)) end
  return t
end

-- Move an execution to a terminal state and into history, with a TTL so it never outlives
-- the history window even if pruning stops. Writes status, finishedAt, error ('' when none)
-- and, for one that started, duration (seconds from startedAt, or from `started` when given).
-- `extra` (a flat list of field, value) is written in the same HSET; `claimed` says the hash
-- may hold claim fields to drop. `due` (for the metrics' lateness), when the caller knows it and
-- gives `started`, saves reading the hash.
local function finalise(key, id, history, status, now_str, keep, err, reason, extra, claimed, started, due)
  local fields = {'status', status, 'finishedAt', now_str, 'error', err or ''}
  if reason and reason ~= '' then fields[#fields + 1] = 'reason'; fields[#fields + 1] = reason end
  local s = nil
  if claimed ~= false then
    s = tonumber(started)
    if not (s and due) then
      local f = redis.pcall('HMGET', key, 'startedAt', 'retryAt')
      if type(f) ~= 'table' or f.err then f = {} end
      s = s or tonumber(f[1])
      due = due_of(id, f[2])
    end
    if s then
      fields[#fields + 1] = 'duration'
      fields[#fields + 1] = string.format('%.3f', math.max(0, tonumber(now_str) - s))
    end
  else
    due = nil
  end
  if extra then
    for i = 1, #extra do fields[#fields + 1] = extra[i] end
  end
  redis.call('HSET', key, unpack(fields))
  if claimed ~= false then redis.call('HDEL', key, 'token', 'leaseUntil') end
  redis.call('ZADD', history, now_str, id)
  redis.call('EXPIRE', key, keep)
  count_outcome(id, status, tonumber(now_str), s, due)
end

-- The queue score: executionTime * 10 + priority (1..5), so the ZSET orders by time, then
-- priority. These two are the Lua twins of domain/score.py's encode_score and decode_score.
local function score_of(t, p)
  return t * 10 + p
end

-- (executionTime, priority) of a score, or nil when it is not one queuectl writes.
local function split_score(score)
  if not score then return nil end
  local t = math.floor(score / 10)
  local p = score - t * 10
  if p < 1 or p > 5 or p ~= math.floor(p) then return nil end
  return t, p
end

-- The last score due at second `t` (ZRANGEBYSCORE -inf last_score_of(now): what is due).
local function last_score_of(t)
  return t * 10 + 9
end

-- A helper's catalog entry, decoded (nil when there is none or it is not JSON).
local function catalog_entry(catalog, helper)
  local raw = redis.pcall('HGET', catalog, helper)
  if type(raw) ~= 'string' then return nil end
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' then return entry end
  return nil
end

-- The expiry in force of a decoded catalog entry, or nil: the entry's `expiry` field, the
-- schedule in force's with its default worked out when the entry was written
-- (models.HelperRecord.to_redis); an entry written before it carried one gives its schedule's
-- own `expiry` field.
local function entry_expiry(entry)
  local x = tonumber(entry['expiry'])
  if not x and type(entry['schedule']) == 'table' then x = tonumber(entry['schedule']['expiry']) end
  if x and x >= 0 and x == math.floor(x) then return x end
  return nil
end

-- In the compact layout (setting compact_queue) a queued execution is its queue member alone
-- until it is claimed: planning writes no hash (docs/benchmarks.md, memory). Its helper and time are the id's (`<helper>:<seconds>`), its
-- priority the score's (time * 10 + priority), its expiry the helper's schedule in force.
-- `entries` caches catalog lookups for one script call. Returns the execution or nil and a
-- reason ('badid', 'badscore', 'nohelper').
local function planned_execution(id, score, catalog, entries)
  local helper, t = split_id(id)
  if not helper then return nil, 'badid' end
  local st, p = split_score(score)
  if not st or st ~= tonumber(t) then return nil, 'badscore' end
  t = st
  local e = entries[helper]
  if e == nil then
    local entry = catalog_entry(catalog, helper)
    e = entry and entry_expiry(entry) or false
    entries[helper] = e
  end
  if not e then return nil, 'nohelper' end
  return {status = 'queued', helper = helper, time = t, expiry = e, priority = p, attempt = 1,
          planned = true}
end

-- The metadata every execution hash carries (written at planning, or at the claim in the
-- compact layout).
local function metadata(ex)
  return 'helper', ex.helper, 'executionTime', ex.time, 'executionExpiry', ex.expiry, 'priority', ex.priority
end

-- Look at one due queue member: quarantine it out of the queue if it is unusable (reported in
-- `anomalies` as id, reason), expire it if it is past its deadline. Returns the execution when
-- it is still a candidate to run, else nil and 'anomaly' or 'expired'.
local function triage(prefix, id, score, queue, history, catalog, now, now_str, keep, anomalies, entries)
  local key = prefix .. id
  local ex, why
  if redis.call('EXISTS', key) == 1 then  -- (cheaper than reading a hash that is not there)
    ex, why = read_execution(key)
  else
    ex, why = planned_execution(id, tonumber(score), catalog, entries)
    if not ex and why == 'nohelper' then
      -- a helper with no usable catalog entry: end it as an error (visible in history)
      local helper, t = split_id(id)
      finalise(key, id, history, 'error', now_str, keep, 'quarantined: its helper has no schedule in the catalog',
               'quarantined', {'helper', helper, 'executionTime', t}, false)
    end
  end
  if ex and ex.status ~= 'queued' then
    -- in another state already (running, finished): only the stray queue entry goes
    redis.call('ZREM', queue, id)
    anomalies[#anomalies + 1] = id
    anomalies[#anomalies + 1] = 'status:' .. ex.status
    return nil, 'anomaly'
  end
  if ex and not ex.planned then
    -- the id must say what the hash says (callers read the helper and the time from the id)
    local helper, t = split_id(id)
    if helper ~= ex.helper or tonumber(t) ~= ex.time then ex, why = nil, 'badfields' end
  end
  if not ex then
    if why == 'badfields' then
      -- a hash we cannot use: record it as an error (visible in history), never leave it queued
      finalise(key, id, history, 'error', now_str, keep, 'quarantined: unusable execution fields',
               'quarantined')
    end
    redis.call('ZREM', queue, id)
    anomalies[#anomalies + 1] = id
    anomalies[#anomalies + 1] = why
    return nil, 'anomaly'
  end
  if now > ex.time + ex.expiry then
    if ex.planned then
      finalise(key, id, history, 'expired', now_str, keep, nil, 'expired', {metadata(ex)}, false)
    else
      finalise(key, id, history, 'expired', now_str, keep, nil, 'expired', nil, false)
    end
    redis.call('ZREM', queue, id)
    return nil, 'expired'
  end
  return ex
end

-- Fail before the first change when Redis refuses writes (OOM under noeviction): Lua does not
-- roll back, and commands such as ZREM and DEL are still allowed when HSET is not, so a script
-- could otherwise remove an execution from the queue and then fail to mark it.
local function write_probe(probe_key, now_str)
  redis.call('SET', probe_key, now_str)
  redis.call('DEL', probe_key)  -- leaves nothing behind
end

-- Release the per-helper "running" marker if it still names this execution.
local function release_helper(running_helpers, helper, id)
  if redis.call('HGET', running_helpers, helper) == id then
    redis.call('HDEL', running_helpers, helper)
  end
end

-- Copy a failed attempt into history under `<id>#<attempt>`, so every attempt stays visible
-- with its number and error while the execution itself is retried.
local function record_attempt(key, id, attempt, history, now_str, keep, err, reason)
  local rid = id .. '#' .. attempt
  local rkey = string.sub(key, 1, #key - #id) .. rid
  local fields = redis.call('HGETALL', key)
  redis.call('DEL', rkey)
  if #fields > 0 then redis.call('HSET', rkey, unpack(fields)) end
  redis.call('HSET', rkey, 'executionId', rid, 'status', 'error', 'finishedAt', now_str,
             'error', err or '', 'reason', reason or '', 'retriedAs', id)
  local f = redis.call('HMGET', rkey, 'startedAt', 'retryAt')
  local s = tonumber(f[1])
  if s then redis.call('HSET', rkey, 'duration', string.format('%.3f', math.max(0, tonumber(now_str) - s))) end
  redis.call('HDEL', rkey, 'token', 'leaseUntil')
  redis.call('ZADD', history, now_str, rid)
  redis.call('EXPIRE', rkey, keep)
  count_outcome(id, 'error', tonumber(now_str), s, s and due_of(id, f[2]))
end

-- Put a running execution back in the queue for its next attempt at `retry_at`.
local function requeue(key, id, queue, running, running_helpers, ex, retry_at)
  redis.call('HSET', key, 'status', 'queued', 'attempt', ex.attempt + 1, 'retryAt', retry_at)
  redis.call('HDEL', key, 'startedAt', 'claimedAt', 'dispatcher', 'token', 'leaseUntil')
  redis.call('ZREM', running, id)
  release_helper(running_helpers, ex.helper, id)
  redis.call('ZADD', queue, score_of(math.ceil(tonumber(retry_at)), ex.priority), id)
end
