-- prune.lua: drop history entries older than the cutoff together with their execution hashes,
-- in one bounded batch, so no orphan hash is left behind.
-- KEYS[1] = internalExecutionHistory
-- ARGV[1] = execution key prefix   ARGV[2] = cutoff (Unix seconds)   ARGV[3] = batch limit
-- Returns the number removed.
local prefix = ARGV[1]
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(old) do
  redis.call('DEL', prefix .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #old
