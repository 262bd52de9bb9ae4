-- run.lua: queue one manual execution of a helper, due now (`queuectl helpers run`, `POST
-- /helpers/{name}/run`), and record it in the audit trail, in one step: a refused run leaves
-- nothing behind. The execution has its hash from the start (in either layout) with the metadata
-- a planned one has, its helper's expiry, and `trigger` = manual; from there it is claimed,
-- leased, retried and expired like any planned execution (no overlap with a running one of the
-- same helper: the claim's rule). Its id (`<helper>:manual-<ms>-<4 hex>`, domain/ids.py) can
-- never be a planned one's. A disabled helper may be run (on purpose); a broken or missing one
-- may not (there is no schedule in force to take the expiry from, or no code to run).
-- KEYS[1] = internalAvailableHelpers   KEYS[2] = internalExecutionQueue
-- KEYS[3] = audit STREAM               KEYS[4] = last change HASH (helper -> JSON)
-- KEYS[last] = write probe STRING (a denyoom write first: refuse atomically under OOM)
-- ARGV[1] = execution key prefix   ARGV[2] = now (Unix seconds as text: createdAt)
-- ARGV[3] = execution id           ARGV[4] = helper
-- ARGV[5] = executionTime (whole Unix seconds, the id's)
-- ARGV[6] = priority 1..5 ('' = the helper's schedule's)
-- ARGV[7] = requestedBy            ARGV[8] = reason ('' = none)
-- ARGV[9..] = the audit entry (record_change in _lib.lua)
-- Returns {'ok', priority, expiry} or {refusal, detail}: 'nohelper', 'unusable' (its status),
-- 'exists' (the id is taken).
local prefix, now_str, id, helper = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local t = tonumber(ARGV[5])
write_probe(KEYS[#KEYS], now_str)
local entry = catalog_entry(KEYS[1], helper)
if not entry then return {'nohelper', ''} end
if entry['status'] ~= 'ok' or type(entry['schedule']) ~= 'table' then
  return {'unusable', tostring(entry['status'])}
end
local expiry = entry_expiry(entry)
if not expiry then return {'unusable', 'no expiry'} end
local p = tonumber(ARGV[6]) or tonumber(entry['schedule']['priority']) or 3
local key = prefix .. id
if redis.call('EXISTS', key) == 1 or redis.call('ZSCORE', KEYS[2], id) then return {'exists', ''} end
local fields = {'executionId', id, 'helper', helper, 'executionTime', t, 'executionExpiry', expiry,
                'priority', p, 'status', 'queued', 'createdAt', now_str, 'trigger', 'manual',
                'requestedBy', ARGV[7]}
if ARGV[8] ~= '' then
  fields[#fields + 1] = 'requestReason'
  fields[#fields + 1] = ARGV[8]
end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', KEYS[2], score_of(t, p), id)
record_change(KEYS[3], KEYS[4], ARGV, 9, #ARGV)
return {'ok', p, expiry}
