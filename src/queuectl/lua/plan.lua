-- plan.lua: create queued executions, skipping every id that already exists (idempotent:
-- planning the same window twice, or from two processes at once, creates no duplicate).
-- A group is skipped when the helper's catalog entry no longer has the revision the planner
-- read, so a planner working from a stale catalog cannot re-add what a disable removed.
-- KEYS[1] = internalAvailableHelpers (HASH)   KEYS[2] = internalExecutionQueue (ZSET)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (createdAt, Unix seconds as text)
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
      if redis.call('EXISTS', key) == 1 then
        existing = existing + 1
      else
        redis.call('HSET', key, 'executionId', id, 'helper', helper, 'executionTime', t,
                   'executionExpiry', e, 'priority', p, 'status', 'queued', 'createdAt', ARGV[2],
                   'attempt', '1')
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
