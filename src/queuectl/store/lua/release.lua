-- release.lua: hand a claimed execution back to the queue untouched (this dispatcher cannot run
-- its helper), fenced by the claim token so only the claimer can do it.
-- KEYS[1] = internalExecutionQueue   KEYS[2] = running ZSET   KEYS[3] = running helpers HASH
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = execution id   ARGV[3] = token
-- Returns 1 when released, 0 when it was no longer ours.
write_probe(KEYS[#KEYS], ARGV[2])
local id = ARGV[2]
local key = ARGV[1] .. id
local ex = read_execution(key)
if not ex or ex.status ~= 'running' or ex.token ~= ARGV[3] then return 0 end
redis.call('HSET', key, 'status', 'queued')
redis.call('HDEL', key, 'startedAt', 'claimedAt', 'dispatcher', 'token', 'leaseUntil')
redis.call('ZREM', KEYS[2], id)
release_helper(KEYS[3], ex.helper, id)
redis.call('ZADD', KEYS[1], score_of(ex.time, ex.priority), id)
return 1
