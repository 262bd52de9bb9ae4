-- reap.lua: finalise running executions whose owner stopped renewing the lease.
-- By default they end `error` with reason `abandoned`: a dead dispatcher's work is never
-- silently re-run. A helper whose schedule sets `retry_on_abandon: N` (idempotent helpers) gets
-- up to N more attempts while its deadline has not passed.
-- KEYS[1] = running ZSET   KEYS[2] = running helpers HASH   KEYS[3] = internalExecutionHistory
-- KEYS[4] = internalExecutionQueue   KEYS[5] = internalAvailableHelpers
-- KEYS[last - 1] = internalMetrics HASH (outcome counters: count_outcome in _lib.lua)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes   ARGV[4] = batch limit
-- Returns {reaped ids, dropped stale index entries, requeued ids}
local prefix, now_str, keep, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = tonumber(now_str)
write_probe(KEYS[#KEYS], ARGV[2])
metrics_key = KEYS[#KEYS - 1]
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now_str, 'LIMIT', 0, limit)
local reaped, dropped, requeued = {}, 0, {}
local message = 'abandoned: its dispatcher stopped renewing the lease'

local function retries_on_abandon(helper)
  local entry = catalog_entry(KEYS[5], helper)
  if not entry or type(entry['schedule']) ~= 'table' then return 0 end
  return tonumber(entry['schedule']['retry_on_abandon']) or 0
end

for _, id in ipairs(lapsed) do
  local key = prefix .. id
  local ex = read_execution(key)
  if not ex or ex.status ~= 'running' then
    redis.call('ZREM', KEYS[1], id)
    if ex then release_helper(KEYS[2], ex.helper, id) end
    dropped = dropped + 1
  elseif not ex.lease or ex.lease < now then
    if ex.attempt <= retries_on_abandon(ex.helper) and now <= ex.time + ex.expiry then
      record_attempt(key, id, ex.attempt, KEYS[3], now_str, keep, message, 'abandoned')
      requeue(key, id, KEYS[4], KEYS[1], KEYS[2], ex, now_str)
      requeued[#requeued + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
      release_helper(KEYS[2], ex.helper, id)
      finalise(key, id, KEYS[3], 'error', now_str, keep, message, 'abandoned')
      reaped[#reaped + 1] = id
    end
  else
    redis.call('ZADD', KEYS[1], ex.lease, id)
  end
end
flush_metrics()
return {reaped, dropped, requeued}
