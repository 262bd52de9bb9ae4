-- plan.lua: create queued executions, skipping every id that already exists (idempotent:
-- planning the same window twice, or from two processes at once, creates no duplicate).
-- Each one is a queue member `<helper>:<seconds>` scored time * 10 + priority and, in the
-- documented layout (the default), its `execution:{id}` hash with its metadata and
-- status=queued, so `redis-cli HGETALL execution:<id>` shows it from the moment it is planned.
-- The compact layout (setting compact_queue) writes the queue member alone: the hash is
-- written when it is claimed or expires (planned_execution in _lib.lua derives the rest).
-- An id whose hash exists and is not queued has been claimed, finished or expired already and
-- is not planned again.
-- A group is skipped when the helper's catalog entry no longer has the revision the planner
-- read, so a planner working from a stale catalog cannot re-add what a disable removed.
-- KEYS[1] = internalAvailableHelpers (HASH)   KEYS[2] = internalExecutionQueue (ZSET)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text)
-- ARGV[3] = '1' to write each execution's hash (documented layout), '0' for the compact layout
-- ARGV[4..] = groups: helper, revision, n, then n pairs (executionTime, priority)
-- Returns {created, already_existing, stale_groups}
local prefix, now_str = ARGV[1], ARGV[2]
local with_hash = ARGV[3] == '1'
local created_at = math.floor(tonumber(now_str))  -- whole seconds: a planning time needs no more
write_probe(KEYS[#KEYS], now_str)
local created, existing, stale = 0, 0, 0
local i = 4
while i <= #ARGV do
  local helper, rev, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local entry = catalog_entry(KEYS[1], helper)
  local ok = entry and tostring(entry['rev']) == rev and entry['status'] == 'ok'
             and type(entry['schedule']) == 'table' and entry['schedule']['enabled'] ~= false
  local expiry = ok and entry_expiry(entry)
  if not ok or (with_hash and not expiry) then
    stale = stale + 1
  else
    for j = 0, n - 1 do
      local t, p = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
      local id = helper .. ':' .. t
      local key = prefix .. id
      if redis.call('ZSCORE', KEYS[2], id) then
        existing = existing + 1  -- queued already (the common case of a re-plan: one read)
      elseif redis.call('EXISTS', key) == 1 then
        -- claimed, finished or expired already; a queued hash (planned, released, or waiting for
        -- a retry) that lost its queue entry is queued again (nothing else would run or expire it)
        existing = existing + 1
        local f = redis.pcall('HMGET', key, 'status', 'executionTime', 'priority')
        if type(f) == 'table' and not f.err and f[1] == 'queued' and tonumber(f[2]) and tonumber(f[3]) then
          redis.call('ZADD', KEYS[2], 'NX', score_of(tonumber(f[2]), tonumber(f[3])), id)
        end
      else
        if with_hash then
          redis.call('HSET', key, 'executionId', id, 'helper', helper, 'executionTime', t,
                     'executionExpiry', expiry, 'priority', p, 'status', 'queued', 'createdAt', created_at)
        end
        redis.call('ZADD', KEYS[2], score_of(tonumber(t), tonumber(p)), id)
        created = created + 1
      end
    end
  end
  i = i + 2 * n
end
return {created, existing, stale}
