-- cancel.lua: cancel one execution (`queuectl executions cancel`, `POST
-- /helpers/executions/{id}/cancel`) and record it in the audit trail, in one step.
-- A queued one (a planned one, a manual one, one waiting for a retry: `retryAt`) leaves the
-- queue and ends `cancelled` through finalise (history, TTL, the outcome counters). A running
-- one gets a request in its owning dispatcher's cancel HASH, which that dispatcher reads once a
-- tick: it stops the helper's process group (SIGTERM, SIGKILL after the grace) and finishes the
-- execution `cancelled` through finish.lua. A finished or unknown one is left alone and nothing
-- is recorded.
-- KEYS[1] = internalExecutionQueue    KEYS[2] = internalExecutionHistory
-- KEYS[3] = internalAvailableHelpers (a planned execution's expiry, compact layout)
-- KEYS[4] = audit STREAM              KEYS[5] = last change HASH (helper -> JSON)
-- KEYS[last - 1] = internalMetrics HASH (outcome counters: count_outcome in _lib.lua)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes   ARGV[4] = execution id
-- ARGV[5] = the error text of a cancelled execution ('cancelled by <who>: <why>')
-- ARGV[6] = prefix of the per-dispatcher cancel HASH   ARGV[7] = the request (JSON, for the
-- dispatcher)   ARGV[8] = the request HASH's TTL, seconds
-- ARGV[9..] = the audit entry (record_change in _lib.lua)
-- Returns {'cancelled', ''}, {'requested', dispatcher id}, {'finished', status},
-- {'unknown', ''} or {'unreadable', why}.
local prefix, now_str, keep, id = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
write_probe(KEYS[#KEYS], now_str)
metrics_key = KEYS[#KEYS - 1]
local key = prefix .. id
local ex, why = read_execution(key)
if not ex and why == 'missing' then
  local score = redis.call('ZSCORE', KEYS[1], id)
  if not score then return {'unknown', ''} end
  ex, why = planned_execution(id, tonumber(score), KEYS[3], {})  -- the compact layout
  if not ex then return {'unreadable', why} end
  redis.call('ZREM', KEYS[1], id)
  finalise(key, id, KEYS[2], 'cancelled', now_str, keep, ARGV[5], 'cancelled', {'executionId', id, metadata(ex)},
           false)
elseif not ex then
  return {'unreadable', why}
elseif ex.status == 'queued' then
  redis.call('ZREM', KEYS[1], id)
  finalise(key, id, KEYS[2], 'cancelled', now_str, keep, ARGV[5], 'cancelled', nil, false)
elseif ex.status == 'running' then
  local owner = redis.call('HGET', key, 'dispatcher')
  if not owner or owner == '' then return {'unreadable', 'nodispatcher'} end
  local requests = ARGV[6] .. owner
  redis.call('HSET', requests, id, ARGV[7])
  redis.call('EXPIRE', requests, tonumber(ARGV[8]))
  record_change(KEYS[4], KEYS[5], ARGV, 9, #ARGV)
  return {'requested', owner}
else
  return {'finished', ex.status}
end
flush_metrics()
record_change(KEYS[4], KEYS[5], ARGV, 9, #ARGV)
return {'cancelled', ''}
