-- renew.lua: extend the leases of dials this worker process still holds.
-- A dial whose lease was lost (it expired and its slot may be someone else's now) is
-- not renewed: it is reported back so that the worker hangs up and the dial is failed.
-- KEYS: KEYS[1] the deadline index, then four keys per dial: job semaphore, workspace
-- semaphore, number semaphore, dial record.
-- ARGV[1] lease (ms), then two values per dial: deadline member, dial id
-- Returns: the dial ids whose lease was lost.
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local expiry = now + tonumber(ARGV[1])
local lost = {}
local n = (#ARGV - 1) / 2
for i = 0, n - 1 do
  local job_sem, ws_sem, num_sem, dial = KEYS[2 + i * 4], KEYS[3 + i * 4], KEYS[4 + i * 4],
    KEYS[5 + i * 4]
  local member, dial_id = ARGV[2 + i * 2], ARGV[3 + i * 2]
  local d = redis.call('HMGET', dial, 'status', 'owner')
  local live = d[1] == 'queued' or d[1] == 'ringing' or d[1] == 'in-progress'
  if live and d[2] == 'worker' then
    local held = redis.call('ZSCORE', job_sem, dial_id)
    if held and tonumber(held) > now then
      redis.call('ZADD', job_sem, 'XX', expiry, dial_id)
      redis.call('ZADD', ws_sem, 'XX', expiry, dial_id)
      redis.call('ZADD', num_sem, 'XX', expiry, dial_id)
      redis.call('ZADD', KEYS[1], 'XX', expiry, member)
      redis.call('HSET', dial, 'leaseUntil', expiry)
    else
      lost[#lost + 1] = dial_id
    end
  end
end
return lost
