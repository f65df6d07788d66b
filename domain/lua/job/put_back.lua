-- put_back.lua: take back a dial whose call the carrier did not place (it answered
-- "rate limited": no call exists). The dial's slots are freed, its record dropped from
-- the job's dials, and the row goes back to the job as it was before the claim:
-- held until ARGV[4] ms from now (waitingFor retryBackoff), then released by the pump
-- and dialed again as the same attempt; no failed dial is counted. dial.withdrawn
-- closes the dial.started of the claim, so the event log stays whole. A cancelled job
-- cancels the row instead. A dial that already ended is left as it is.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job wake-up member, ARGV[2] job id, ARGV[3] dial id, ARGV[4] wait (ms),
-- ARGV[5] deadline member, ARGV[6] reason, ARGV[7] carrier details (JSON object text or '')
-- Returns (protocol.PutBack): 'held' | 'cancelled' (the job was cancelled meanwhile) |
--          'ended' (the dial is no longer live) | 'missing'
local member, job_id, dial_id = ARGV[1], ARGV[2], ARGV[3]
local K_DIAL = k_dial(dial_id)
local d = redis.call('HMGET', K_DIAL, 'status', 'index', 'rowId', 'fromNumberId', 'toNumber')
if not d[1] then
  redis.call('ZREM', K_DEADLINES, ARGV[5])
  return 'missing'
end
local current = d[1]
if current ~= 'queued' and current ~= 'ringing' and current ~= 'in-progress' then
  return 'ended'
end
local index = d[2]
if redis.call('HGET', K_DIALING, index) == dial_id then redis.call('HDEL', K_DIALING, index) end
redis.call('ZREM', K_SEM, dial_id)
redis.call('ZREM', K_WS_SEM, dial_id)
if d[4] then redis.call('ZREM', k_number_sem(d[4]), dial_id) end
redis.call('ZREM', K_DEADLINES, ARGV[5])
redis.call('ZREM', K_DIALS, dial_id)
if d[5] then redis.call('ZREM', k_freq(d[5]), dial_id) end
redis.call('DEL', K_DIAL)
redis.call('HINCRBY', K_STATS, 'inProgress', -1)
local now = now_ms()
local due = now + tonumber(ARGV[4])
local outcome = 'held'
if redis.call('HGET', K_JOB, 'status') == 'CANCELLED' then
  redis.call('ZADD', K_CANCELLED, tonumber(index), index)
  redis.call('HINCRBY', K_JOB, 'cancelled', 1)
  outcome = 'cancelled'
else
  hold(index, due, 'retryBackoff')
  redis.call('HINCRBY', K_STATS, 'queued', 1)
end
emit({type = 'dial.withdrawn', jobId = job_id, dialId = dial_id, rowId = d[3], from = current,
  reason = ARGV[6], retryAt = iso_ms(due), row = outcome}, ARGV[7])
local waiting = redis.call('SPOP', K_WAITING, 20)
for _, other in ipairs(waiting) do wake(other, now) end
if outcome == 'cancelled' then complete_if_done(job_id, member, now) end
wake(member, now)
return outcome
