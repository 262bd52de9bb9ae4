-- expire.lua: sweep a slice of due queue members and expire those past their deadline
-- (now > executionTime + executionExpiry), so the queue never shows stale work as queued.
-- Works on one bounded slice per call; the caller walks the slices with `offset`. The first
-- slice (offset 0) also quarantines members scored +inf or -inf.
-- KEYS[1] = internalExecutionQueue   KEYS[2] = internalExecutionHistory
-- KEYS[3] = internalAvailableHelpers (a planned execution's expiry)
-- KEYS[last - 1] = internalMetrics HASH (outcome counters: count_outcome in _lib.lua)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes   ARGV[4] = offset   ARGV[5] = limit
-- ARGV[6] = latest executionTime worth looking at (nothing later can be past its deadline)
-- Returns {expired, looked, kept, anomalies (flat id, reason)}; kept = members left in place.
local prefix, now_str, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = tonumber(now_str)
local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local upto = math.min(math.floor(now), math.floor(tonumber(ARGV[6]) or now))
write_probe(KEYS[#KEYS], ARGV[2])
metrics_key = KEYS[#KEYS - 1]
local expired, kept, anomalies = 0, 0, {}
if offset == 0 then
  -- scores queuectl never writes: +inf would never fall due, -inf would always head the queue
  for _, bound in ipairs({'+inf', '-inf'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], bound, bound, 'LIMIT', 0, 100)) do
      local key = prefix .. id
      local ex = read_execution(key)
      if ex and ex.status == 'queued' then
        finalise(key, id, KEYS[2], 'error', now_str, keep, 'quarantined: its queue score was ' .. bound,
                 'quarantined')
      end
      redis.call('ZREM', KEYS[1], id)
      anomalies[#anomalies + 1] = id
      anomalies[#anomalies + 1] = 'score:' .. bound
    end
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', last_score_of(upto), 'WITHSCORES', 'LIMIT', offset, limit)
local entries = {}
for idx = 1, #due, 2 do
  local id = due[idx]
  local ex, why = triage(prefix, id, due[idx + 1], KEYS[1], KEYS[2], KEYS[3], now, now_str, keep, anomalies,
                         entries)
  if ex then
    kept = kept + 1
  elseif why == 'expired' then
    expired = expired + 1
  end
end
flush_metrics()
return {expired, #due / 2, kept, anomalies}
