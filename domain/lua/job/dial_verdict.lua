-- dial_verdict.lua: remember a carrier's answering-machine verdict on a live dial (its
-- 'answeredBy' field), to be applied when the call's end is reported: Telnyx reports
-- the verdict (call.machine.detection.ended) and the end (call.hangup) apart, and the
-- dial keeps its slot until the call really ends. A dial that ended, or that does not
-- exist, is left alone (no key is made).
-- KEYS: KEYS[1] the dial's hash
-- ARGV: ARGV[1] the verdict ('machine', 'human', 'not_sure')
-- Returns (protocol.LiveStatus): 1 if the verdict was recorded or changed, 0 otherwise.
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'ringing' and status ~= 'in-progress' then return 0 end
if redis.call('HGET', KEYS[1], 'answeredBy') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'answeredBy', ARGV[1])
return 1
