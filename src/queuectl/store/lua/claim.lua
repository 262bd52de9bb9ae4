-- claim.lua: expire what is past its deadline and claim due executions, in one atomic step.
-- Looks at up to `scan` queue members due by `upto` (a few ms ahead of now: the worker waits for
-- the exact instant, so the claim's round trip is not part of the lateness) and claims up to
-- `limit` of them, highest priority first, skipping any helper that already has a running
-- execution (no overlap); on the way it expires those it reads with now > executionTime +
-- executionExpiry (the expire sweep reaches the ones it does not read). A claim writes
-- status=running, startedAt, claimedAt (for `executions show`), the owner, the attempt, a fresh
-- token and a lease into the execution's hash, with its metadata (in the compact layout a planned execution has no hash
-- yet: see planned_execution in _lib.lua), and indexes the id in the running set.
-- KEYS[1] = internalExecutionQueue   KEYS[2] = running ZSET (score = leaseUntil)
-- KEYS[3] = running helpers HASH     KEYS[4] = internalExecutionHistory
-- KEYS[5] = internalAvailableHelpers (a planned execution's expiry)
-- KEYS[last - 1] = internalMetrics HASH (outcome counters: count_outcome in _lib.lua)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix     ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = limit (free slots)       ARGV[4] = owner (dispatcher id)
-- ARGV[5] = leaseUntil (as text)     ARGV[6] = token prefix (unique per call)
-- ARGV[7] = scan (max due members to look at)   ARGV[8] = keep seconds for finished hashes
-- ARGV[9] = upto (Unix seconds as text, >= now)
-- ARGV[10..] = helpers this dispatcher cannot run (their executions are left for others)
-- Returns {claimed, expired, anomalies, looked, head score or ''}; claimed is flat:
--   id, attempt, priority, executionExpiry, due second (5 per claim, as integers); the helper and
--   executionTime are the id's, the n-th claim's token is `<token prefix>:<n>`;
-- those already due come first, by priority; those due by `upto` follow, by time then priority.
-- anomalies is flat: id, reason (quarantined out of the queue).
local prefix, now_str = ARGV[1], ARGV[2]
local now = tonumber(now_str)
local limit, owner, lease_str, token_prefix = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local scan, keep, upto = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local skip = {}
for i = 10, #ARGV do skip[ARGV[i]] = true end

write_probe(KEYS[#KEYS], ARGV[2])
metrics_key = KEYS[#KEYS - 1]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', last_score_of(math.floor(upto)), 'WITHSCORES',
                       'LIMIT', 0, scan)
-- Order first, from the scores alone (time * 10 + priority): those already due by priority
-- (each priority in queue order, i.e. by time), then those due by `upto` in queue order (time,
-- then priority). A score without a priority 1..5 goes first, so triage quarantines it. Only
-- then are members read, in that order, until `limit` are claimed: a burst of due work costs
-- one read per claim, not one per member looked at (the expire sweep reaches the rest).
local first, by_priority, ahead, seconds = {}, {{}, {}, {}, {}, {}}, {}, {}
for idx = 1, #due, 2 do
  local second, p = split_score(tonumber(due[idx + 1]))
  seconds[idx] = second
  if not second then
    first[#first + 1] = idx
  elseif second <= now then
    local bucket = by_priority[p]
    bucket[#bucket + 1] = idx
  else
    ahead[#ahead + 1] = idx
  end
end
local order = first
for p = 1, 5 do
  for _, idx in ipairs(by_priority[p]) do order[#order + 1] = idx end
end
for _, idx in ipairs(ahead) do order[#order + 1] = idx end

local expired, anomalies, entries, claimed = 0, {}, {}, {}
local seen, n = {}, 0
for _, idx in ipairs(order) do
  if n >= limit then break end
  local id = due[idx]
  -- one execution per helper per call (no overlap); a helper this dispatcher cannot run is
  -- left for others, untouched
  local named = split_id(id)
  if not (named and (seen[named] or skip[named])) then
    local ex, why = triage(prefix, id, due[idx + 1], KEYS[1], KEYS[4], KEYS[5], now, now_str, keep, anomalies,
                           entries)
    if why == 'expired' then
      expired = expired + 1
    elseif ex then  -- triage only passes an execution whose id names its helper (`named`)
      seen[ex.helper] = true
      ex.due = seconds[idx] or ex.time  -- (a score queuectl never writes: its own time)
      local holder = redis.call('HGET', KEYS[3], ex.helper)
      if holder and redis.pcall('HGET', prefix .. holder, 'status') ~= 'running' then
        redis.call('HDEL', KEYS[3], ex.helper)  -- a marker outlived its execution: clear it
        holder = false
      end
      if not holder then
        n = n + 1
        local token = token_prefix .. ':' .. n
        local key = prefix .. id
        local started = now_str
        if ex.due > now then started = tostring(ex.due) end
        if ex.planned then  -- the compact layout: the hash starts here, metadata and all
          redis.call('HSET', key, 'status', 'running', 'startedAt', started, 'claimedAt', now_str,
                     'dispatcher', owner, 'attempt', ex.attempt, 'token', token, 'leaseUntil', lease_str,
                     'executionId', id, metadata(ex))
        else  -- (`helper` too: a hash re-queued by an older version may lack it)
          redis.call('HSET', key, 'status', 'running', 'startedAt', started, 'claimedAt', now_str,
                     'dispatcher', owner, 'attempt', ex.attempt, 'token', token, 'leaseUntil', lease_str,
                     'helper', ex.helper)
        end
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZADD', KEYS[2], lease_str, id)
        redis.call('HSET', KEYS[3], ex.helper, id)
        local c = #claimed
        claimed[c + 1] = id
        claimed[c + 2] = ex.attempt
        claimed[c + 3] = ex.priority
        claimed[c + 4] = ex.expiry
        claimed[c + 5] = ex.due
      end
    end
  end
end
flush_metrics()
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {claimed, expired, anomalies, #due / 2, head[2] or ''}
