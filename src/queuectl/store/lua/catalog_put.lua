-- catalog_put.lua: compare-and-set catalog entries by revision, so two processes changing
-- helpers at once never lose each other's write (the loser re-reads and retries). An operator's
-- change (enable, disable, update, reset) is recorded in the audit trail here, in the same step,
-- and only when every entry was written: a refused or lost write records nothing.
-- KEYS[1] = internalAvailableHelpers (HASH)   KEYS[2] = catalog version counter (bumped on any write)
-- KEYS[3] = audit STREAM   KEYS[4] = last change HASH (helper -> JSON)
-- ARGV[1] = n, the number of audit arguments that follow (0: a change nobody audits, such as
--           registration by discovery); ARGV[2 .. n + 1] = the audit entry (record_change in _lib.lua)
-- ARGV[n + 2 ..] = groups of 3: helper name, expected revision ('' = the field must be absent), JSON value
-- Returns the names that were NOT written because the revision did not match.
local conflicts, written = {}, 0
local audit_n = tonumber(ARGV[1])
for i = audit_n + 2, #ARGV, 3 do
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
if audit_n > 0 and written > 0 and #conflicts == 0 then record_change(KEYS[3], KEYS[4], ARGV, 2, audit_n + 1) end
return conflicts
