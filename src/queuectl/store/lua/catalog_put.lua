-- catalog_put.lua: compare-and-set catalog entries by revision, so two processes changing
-- helpers at once never lose each other's write (the loser re-reads and retries).
-- KEYS[1] = internalAvailableHelpers (HASH)   KEYS[2] = catalog version counter (bumped on any write)
-- ARGV = groups of 3: helper name, expected revision ('' = the field must be absent), JSON value
-- Returns the names that were NOT written because the revision did not match.
local conflicts, written = {}, 0
for i = 1, #ARGV, 3 do
  local name, expected, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[1], name)
  local current = ''
  if raw then
    local ok, entry = pcall(cjson.decode, raw)
    if ok and type(entry) == 'table' and entry['rev'] ~= nil then
      current = tostring(entry['rev'])
    else
      current = 'corrupt'
    end
  end
  if current == expected or (expected == '*') then
    redis.call('HSET', KEYS[1], name, value)
    written = written + 1
  else
    conflicts[#conflicts + 1] = name
  end
end
if written > 0 then redis.call('INCR', KEYS[2]) end
return conflicts
