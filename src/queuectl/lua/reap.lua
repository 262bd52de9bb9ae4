-- reap.lua: finalise running executions whose owner stopped renewing the lease.
-- They end `error` with reason `abandoned`: a dead dispatcher's work is never silently re-run.
-- KEYS[1] = running ZSET   KEYS[2] = running helpers HASH   KEYS[3] = internalExecutionHistory
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes   ARGV[4] = batch limit
-- Returns {reaped ids, dropped stale index entries}
local prefix, now_str, keep, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = tonumber(now_str)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now_str, 'LIMIT', 0, limit)
local reaped, dropped = {}, 0
for _, id in ipairs(lapsed) do
  local key = prefix .. id
  local ex = read_execution(key)
  if not ex or ex.status ~= 'running' then
    redis.call('ZREM', KEYS[1], id)
    if ex then release_helper(KEYS[2], ex.helper, id) end
    dropped = dropped + 1
  elseif not ex.lease or ex.lease < now then
    redis.call('ZREM', KEYS[1], id)
    release_helper(KEYS[2], ex.helper, id)
    finalise(key, id, KEYS[3], 'error', now_str, keep,
             'abandoned: its dispatcher stopped renewing the lease', 'abandoned')
    reaped[#reaped + 1] = id
  else
    redis.call('ZADD', KEYS[1], ex.lease, id)
  end
end
return {reaped, dropped}
