-- finish.lua: record the outcome of running executions, fenced by their claim token.
-- An outcome is written only while the execution is still `running` with the same token, so a
-- dispatcher that was frozen past its lease cannot overwrite what a peer decided. A failed
-- attempt with a retry time goes back to the queue (the attempt itself goes to history).
-- KEYS[1] = running ZSET   KEYS[2] = running helpers HASH   KEYS[3] = internalExecutionHistory
-- KEYS[4] = internalExecutionQueue
-- KEYS[last - 1] = internalMetrics HASH (outcome counters: count_outcome in _lib.lua)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (finishedAt, Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes (history TTL + margin)
-- ARGV[4..] = groups of 7: id, token, status ('success'|'error'), error text, reason ('' = none),
--             retry at (Unix seconds as text, '' = no retry), started (the worker's start time,
--             Unix seconds as text; '' = keep the claim's estimate)
-- Returns one integer per group: 1 written, 2 re-queued for a retry, 0 fenced (not running, or
-- another token; a planned execution has no hash yet), -1 unreadable hash (left untouched).
local prefix, now_str, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
write_probe(KEYS[#KEYS], ARGV[2])
metrics_key = KEYS[#KEYS - 1]
local out = {}
local i = 4
while i <= #ARGV do
  local id, token, status, err, reason, retry_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
                                                  ARGV[i + 4], ARGV[i + 5]
  local started = ARGV[i + 6]
  i = i + 7
  local key = prefix .. id
  local ex, why = read_execution(key)
  if not ex and why == 'missing' then
    out[#out + 1] = 0
  elseif not ex then
    out[#out + 1] = -1
  elseif ex.status ~= 'running' or ex.token ~= token then
    out[#out + 1] = 0
  else
    local extra = nil
    if started ~= '' and tonumber(started) then extra = {'startedAt', started} end
    if status == 'error' and retry_at ~= '' and tonumber(retry_at) then
      if extra then redis.call('HSET', key, unpack(extra)) end
      record_attempt(key, id, ex.attempt, KEYS[3], now_str, keep, err, reason)
      requeue(key, id, KEYS[4], KEYS[1], KEYS[2], ex, retry_at)
      out[#out + 1] = 2
    else
      redis.call('ZREM', KEYS[1], id)
      release_helper(KEYS[2], ex.helper, id)
      -- a first attempt is due at its execution time (a retry, at its retry time: finalise reads it)
      local due = nil
      if ex.attempt == 1 then due = due_of(id, nil) end
      finalise(key, id, KEYS[3], status, now_str, keep, err, reason, extra, nil, started, due)
      out[#out + 1] = 1
    end
  end
end
flush_metrics()
return out
