-- handoff.lua: a provider accepted the call and will report its end by callback; the
-- call no longer lives in a worker. Its leases now last until the longest allowed call
-- (startedAt + max call duration), after which the reaper ends it as failed. A dial
-- whose lease already lapsed (its slot may be someone else's now) is not revived.
-- KEYS: KEYS[1] the deadline index, KEYS[2] job semaphore, KEYS[3] workspace semaphore,
-- KEYS[4] number semaphore, KEYS[5] dial record.
-- ARGV: ARGV[1] deadline member, ARGV[2] dial id, ARGV[3] max call duration (ms)
-- Returns (protocol.Handoff): 'handed' | 'ended' (the callback came first) | 'lost' (the lease lapsed).
local d = redis.call('HMGET', KEYS[5], 'status', 'startedAt')
if d[1] ~= 'queued' and d[1] ~= 'ringing' and d[1] ~= 'in-progress' then return 'ended' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not held or tonumber(held) <= now then return 'lost' end
local expiry = tonumber(d[2]) + tonumber(ARGV[3])
for i = 2, 4 do redis.call('ZADD', KEYS[i], 'XX', expiry, ARGV[2]) end
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
redis.call('HSET', KEYS[5], 'owner', 'provider', 'leaseUntil', expiry)
return 'handed'
