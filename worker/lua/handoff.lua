-- handoff.lua: a provider accepted the call and will report its end by callback; the
-- call no longer lives in a worker. Its leases now last until the longest allowed call
-- (startedAt + max call duration), after which the reaper ends it as failed.
-- KEYS: KEYS[1] the deadline index, KEYS[2] job semaphore, KEYS[3] workspace semaphore,
-- KEYS[4] number semaphore, KEYS[5] dial record.
-- ARGV[1] deadline member, ARGV[2] dial id, ARGV[3] max call duration (ms)
-- Returns: 1 if handed off, 0 if the dial already ended (the callback came first).
local d = redis.call('HMGET', KEYS[5], 'status', 'startedAt')
if d[1] ~= 'queued' and d[1] ~= 'ringing' and d[1] ~= 'in-progress' then return 0 end
local expiry = tonumber(d[2]) + tonumber(ARGV[3])
for i = 2, 4 do redis.call('ZADD', KEYS[i], 'XX', expiry, ARGV[2]) end
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
redis.call('HSET', KEYS[5], 'owner', 'provider', 'leaseUntil', expiry)
return 1
