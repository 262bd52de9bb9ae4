-- plan.lua: create queued executions, skipping every id that already exists (idempotent:
-- planning the same window twice, or from two processes at once, creates no duplicate).
-- A queued hash holds status, executionTime, executionExpiry and priority; the helper and the
-- id are its key's (`execution:<helper>:<seconds>`), attempt is 1 until a retry sets it.
-- A group is skipped when the helper's catalog entry no longer has the revision the planner
-- read, so a planner working from a stale catalog cannot re-add what a disable removed.
-- KEYS[1] = internalAvailableHelpers (HASH)   KEYS[2] = internalExecutionQueue (ZSET)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text; the TTL counts from it)
-- ARGV[3] = seconds to keep a hash after its deadline (history TTL + margin)
-- ARGV[4..] = groups: helper, revision, n, then n triples (executionTime, executionExpiry, priority)
-- Returns {created, already_existing, stale_groups}
local prefix, now, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
write_probe(KEYS[#KEYS], ARGV[2])
local created, existing, stale = 0, 0, 0
local i = 4
while i <= #ARGV do
  local helper, rev, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local ok = false
  local raw = redis.pcall('HGET', KEYS[1], helper)
  if type(raw) == 'string' then
    local decoded, entry = pcall(cjson.decode, raw)
    if decoded and type(entry) == 'table' and tostring(entry['rev']) == rev
        and entry['status'] == 'ok' and type(entry['schedule']) == 'table'
        and entry['schedule']['enabled'] ~= false then
      ok = true
    end
  end
  if not ok then
    stale = stale + 1
  else
    for j = 0, n - 1 do
      local t, e, p = ARGV[i + 3 * j], ARGV[i + 3 * j + 1], ARGV[i + 3 * j + 2]
      local id = helper .. ':' .. t
      local key = prefix .. id
      if redis.call('ZSCORE', KEYS[2], id) then
        existing = existing + 1
      elseif redis.call('EXISTS', key) == 1 then
        -- claimed, finished or expired already; a queued hash that lost its queue entry is
        -- queued again (nothing else would ever run or expire it)
        existing = existing + 1
        local f = redis.pcall('HMGET', key, 'status', 'executionTime', 'priority')
        if type(f) == 'table' and not f.err and f[1] == 'queued' and tonumber(f[2]) and tonumber(f[3]) then
          redis.call('ZADD', KEYS[2], tonumber(f[2]) * 10 + tonumber(f[3]), id)
        end
      else
        -- only what the id does not already say: the helper and the time are in the key, the
        -- attempt is 1 until a retry writes it (listpack-sized: see docs/benchmarks.md, memory)
        redis.call('HSET', key, 'status', 'queued', 'executionTime', t, 'executionExpiry', e, 'priority', p)
        redis.call('ZADD', KEYS[2], tonumber(t) * 10 + tonumber(p), id)
        local ttl = math.floor(tonumber(t) + tonumber(e) - now + keep)
        if ttl < keep then ttl = keep end
        redis.call('EXPIRE', key, ttl)
        created = created + 1
      end
    end
  end
  i = i + 3 * n
end
return {created, existing, stale}
