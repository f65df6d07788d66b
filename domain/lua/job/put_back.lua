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
local d, gone = unclaim(dial_id, ARGV[5])
if not d then return gone end
local current, index = d[1], d[2]
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
