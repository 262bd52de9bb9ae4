-- renew.lua: extend the leases of executions this dispatcher still owns.
-- KEYS[1] = running ZSET
-- ARGV[1] = execution key prefix   ARGV[2] = new leaseUntil (Unix seconds as text)
-- ARGV[3..] = pairs: id, token
-- Returns the ids whose lease is lost (no longer running, or claimed under another token).
local prefix, lease_str = ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = prefix .. id
  local ex = read_execution(key)
  if ex and ex.status == 'running' and ex.token == token then
    redis.call('HSET', key, 'leaseUntil', lease_str)
    redis.call('ZADD', KEYS[1], lease_str, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
