-- claim.lua: expire what is past its deadline and claim due executions, in one atomic step.
-- Looks at up to `scan` queue members due by `upto` (a few ms ahead of now: the worker waits for
-- the exact instant, so the claim's round trip is not part of the lateness), expires those with
-- now > executionTime + executionExpiry, and claims up to `limit` of the rest, highest priority
-- first, skipping any helper that already has a running execution (no overlap). A claim writes
-- the execution's hash (a planned execution has none: see planned_execution in _lib.lua):
-- status=running, its metadata, owner, a fresh token and a lease, and indexes the id in the
-- running set.
-- KEYS[1] = internalExecutionQueue   KEYS[2] = running ZSET (score = leaseUntil)
-- KEYS[3] = running helpers HASH     KEYS[4] = internalExecutionHistory
-- KEYS[5] = internalAvailableHelpers (a planned execution's expiry)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix     ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = limit (free slots)       ARGV[4] = owner (dispatcher id)
-- ARGV[5] = leaseUntil (as text)     ARGV[6] = token prefix (unique per call)
-- ARGV[7] = scan (max due members to look at)   ARGV[8] = keep seconds for finished hashes
-- ARGV[9] = upto (Unix seconds as text, >= now)
-- ARGV[10..] = helpers this dispatcher cannot run (their executions are left for others)
-- Returns {claimed, expired, anomalies, looked, head score or ''}; claimed is flat:
--   id, helper, executionTime, attempt, token, priority, executionExpiry, due second (8 per claim);
-- those already due come first, by priority; those due by `upto` follow, by time then priority.
-- anomalies is flat: id, reason (quarantined out of the queue).
local prefix, now_str = ARGV[1], ARGV[2]
local now = tonumber(now_str)
local limit, owner, lease_str, token_prefix = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local scan, keep, upto = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local skip = {}
for i = 10, #ARGV do skip[ARGV[i]] = true end

write_probe(KEYS[#KEYS], ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', math.floor(upto) * 10 + 9, 'WITHSCORES',
                       'LIMIT', 0, scan)
local expired, anomalies, candidates, entries = 0, {}, {}, {}
for idx = 1, #due, 2 do
  local id = due[idx]
  local ex, why = triage(prefix, id, due[idx + 1], KEYS[1], KEYS[4], KEYS[5], now, now_str, keep, anomalies,
                         entries)
  if ex then
    ex.id = id
    ex.idx = idx
    ex.due = math.floor(tonumber(due[idx + 1]) / 10)
    ex.now = ex.due <= now
    candidates[#candidates + 1] = ex
  elseif why == 'expired' then
    expired = expired + 1
  end
end

local claimed = {}
if limit > 0 and #candidates > 0 then
  table.sort(candidates, function(a, b)
    if a.now ~= b.now then return a.now end
    if a.now then
      if a.priority ~= b.priority then return a.priority < b.priority end
      if a.due ~= b.due then return a.due < b.due end
    else
      if a.due ~= b.due then return a.due < b.due end
      if a.priority ~= b.priority then return a.priority < b.priority end
    end
    return a.idx < b.idx
  end)
  local seen, n = {}, 0
  for _, ex in ipairs(candidates) do
    if n >= limit then break end
    if not seen[ex.helper] and not skip[ex.helper] then
      seen[ex.helper] = true
      local holder = redis.call('HGET', KEYS[3], ex.helper)
      if holder and redis.pcall('HGET', prefix .. holder, 'status') ~= 'running' then
        redis.call('HDEL', KEYS[3], ex.helper)  -- a marker outlived its execution: clear it
        holder = false
      end
      if not holder then
        n = n + 1
        local token = token_prefix .. ':' .. n
        local key = prefix .. ex.id
        local started = now_str
        if ex.due > now then started = tostring(ex.due) end
        redis.call('HSET', key, 'status', 'running', 'startedAt', started, 'dispatcher', owner,
                   'token', token, 'leaseUntil', lease_str, metadata(ex))
        redis.call('ZREM', KEYS[1], ex.id)
        redis.call('ZADD', KEYS[2], lease_str, ex.id)
        redis.call('HSET', KEYS[3], ex.helper, ex.id)
        local c = #claimed
        claimed[c + 1] = ex.id
        claimed[c + 2] = ex.helper
        claimed[c + 3] = tostring(ex.time)
        claimed[c + 4] = tostring(ex.attempt)
        claimed[c + 5] = token
        claimed[c + 6] = tostring(ex.priority)
        claimed[c + 7] = tostring(ex.expiry)
        claimed[c + 8] = tostring(ex.due)
      end
    end
  end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {claimed, expired, anomalies, #due / 2, head[2] or ''}
