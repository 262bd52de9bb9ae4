-- unplan.lua: remove executions that are still queued (disable, update); running and finished
-- ones are left alone, so history is kept and a running execution finishes. A queued
-- execution's hash goes with its queue member (in the compact layout a planned execution has
-- no hash: its queue member alone goes).
-- KEYS[1] = internalExecutionQueue
-- ARGV[1] = execution key prefix   ARGV[2..] = execution ids
-- Returns the number removed.
local prefix = ARGV[1]
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local status = redis.pcall('HGET', key, 'status')
  if type(status) == 'string' and status == 'queued' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    removed = removed + 1
  elseif status == false then
    removed = removed + redis.call('ZREM', KEYS[1], id)
  end
end
return removed
