-- renew.lua: extend the leases of dials this worker process still holds.
-- Not renewed, and reported back: a dial that ended elsewhere (reaped, or ended by a
-- provider callback) -> 'ended:<id>'; a dial whose lease lapsed (its slot may be
-- someone else's now) -> 'lost:<id>'; a dial past the longest allowed call ->
-- 'overdue:<id>'. The worker stops renewing those and ends the last two as failed.
-- KEYS: KEYS[1] the deadline index, then four keys per dial: job semaphore, workspace
-- semaphore, number semaphore, dial record.
-- ARGV: ARGV[1] lease (ms), ARGV[2] max call duration (ms), then two values per dial:
-- deadline member, dial id
-- Returns (protocol.Renewal): the reports above, one per dial not renewed.
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local expiry = now + tonumber(ARGV[1])
local max_call = tonumber(ARGV[2])
local out = {}
local n = (#ARGV - 2) / 2
for i = 0, n - 1 do
  local job_sem, ws_sem, num_sem, dial = KEYS[2 + i * 4], KEYS[3 + i * 4], KEYS[4 + i * 4],
    KEYS[5 + i * 4]
  local member, dial_id = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local d = redis.call('HMGET', dial, 'status', 'owner', 'startedAt')
  local live = d[1] == 'queued' or d[1] == 'ringing' or d[1] == 'in-progress'
  local held = redis.call('ZSCORE', job_sem, dial_id)
  if not live or d[2] ~= 'worker' then
    out[#out + 1] = 'ended:' .. dial_id
  elseif not held or tonumber(held) <= now then
    out[#out + 1] = 'lost:' .. dial_id
  elseif now >= tonumber(d[3]) + max_call then
    out[#out + 1] = 'overdue:' .. dial_id
  else
    redis.call('ZADD', job_sem, 'XX', expiry, dial_id)
    redis.call('ZADD', ws_sem, 'XX', expiry, dial_id)
    redis.call('ZADD', num_sem, 'XX', expiry, dial_id)
    redis.call('ZADD', KEYS[1], 'XX', expiry, member)
    redis.call('HSET', dial, 'leaseUntil', expiry)
  end
end
return out
