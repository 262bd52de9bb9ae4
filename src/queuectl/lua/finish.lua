-- finish.lua: record the outcome of running executions, fenced by their claim token.
-- An outcome is written only while the execution is still `running` with the same token, so a
-- dispatcher that was frozen past its lease cannot overwrite what a peer decided.
-- KEYS[1] = running ZSET   KEYS[2] = running helpers HASH   KEYS[3] = internalExecutionHistory
-- ARGV[1] = execution key prefix   ARGV[2] = now (finishedAt, Unix seconds as text)
-- ARGV[3] = seconds to keep finished hashes (history TTL + margin)
-- ARGV[4..] = groups of 5: id, token, status ('success'|'error'), error text, reason ('' = none)
-- Returns one integer per group: 1 written, 0 fenced (not running, or another token),
-- -1 unreadable hash (left untouched).
local prefix, now_str, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
local i = 4
while i <= #ARGV do
  local id, token, status, err, reason = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local key = prefix .. id
  local ex = read_execution(key)
  if not ex then
    out[#out + 1] = -1
  elseif ex.status ~= 'running' or ex.token ~= token then
    out[#out + 1] = 0
  else
    redis.call('ZREM', KEYS[1], id)
    release_helper(KEYS[2], ex.helper, id)
    finalise(key, id, KEYS[3], status, now_str, keep, err, reason)
    out[#out + 1] = 1
  end
end
return out
