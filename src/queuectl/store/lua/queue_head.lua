-- queue_head.lua: the first executions of the queue with their hashes, in one round trip (queue
-- show, GET /helpers/executions/queue: a read many times a second must not pay one round trip
-- for the queue and another for the hashes). Reads only.
-- KEYS[1] = internalExecutionQueue
-- ARGV[1] = how many   ARGV[2] = execution key prefix
-- Returns a flat list: id, score, fields (HGETALL: empty when a planned execution has no hash,
-- the integer 0 when the key is not a hash), id, score, fields, ...
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #members, 2 do
  local fields = redis.pcall('HGETALL', ARGV[2] .. members[i])
  if type(fields) ~= 'table' or fields.err then fields = 0 end
  out[#out + 1] = members[i]
  out[#out + 1] = members[i + 1]
  out[#out + 1] = fields
end
return out
