-- predial.lua: what the job's pre-dial hook (preDialWebhook) decided for a claimed dial
-- whose call was not placed: 'skip' ends the row (outcome skipped, row.skipped with the
-- reason), 'defer' holds it for ARGV[5] ms (waitingFor preDial), then the pump releases
-- it and it is claimed (and the hook asked) again as the same attempt. Either way the
-- dial's slots are freed at once, its record is dropped from the job's dials (no call
-- was made) and dial.withdrawn closes the dial.started of the claim. A cancelled job
-- cancels a deferred row instead. A dial that already ended is left as it is.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job wake-up member, ARGV[2] job id, ARGV[3] dial id, ARGV[4] 'skip' |
-- 'defer', ARGV[5] wait (ms, defer), ARGV[6] deadline member, ARGV[7] reason,
-- ARGV[8] who decided: 'hook' (the hook's answer) | 'onTimeout' (no usable answer)
-- Returns (protocol.PreDialOutcome): 'skipped' | 'held' | 'cancelled' (a deferred row
--          of a job cancelled meanwhile) | 'ended' (the dial is no longer live) | 'missing'
local member, job_id, dial_id, verdict = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local d, gone = unclaim(dial_id, ARGV[6])
if not d then return gone end
local current, index = d[1], d[2]
local now = now_ms()
local outcome
local withdrawn = {type = 'dial.withdrawn', jobId = job_id, dialId = dial_id, rowId = d[3],
  from = current, reason = 'preDial: ' .. ARGV[7], decidedBy = ARGV[8]}
if verdict == 'skip' then
  redis.call('HINCRBY', K_JOB, 'finished', 1)
  redis.call('HINCRBY', K_JOB, 'out:skipped', 1)
  withdrawn.row = 'skipped'
  emit(withdrawn, '')
  emit({type = 'row.skipped', jobId = job_id, rowId = d[3], toNumber = d[5], to = 'skipped',
    status = 'skipped', reason = ARGV[7], decidedBy = ARGV[8]}, '')
  outcome = 'skipped'
elseif redis.call('HGET', K_JOB, 'status') == 'CANCELLED' then
  redis.call('ZADD', K_CANCELLED, tonumber(index), index)
  redis.call('HINCRBY', K_JOB, 'cancelled', 1)
  withdrawn.row = 'cancelled'
  emit(withdrawn, '')
  outcome = 'cancelled'
else
  local due = now + tonumber(ARGV[5])
  hold(index, due, 'preDial')
  redis.call('HINCRBY', K_STATS, 'queued', 1)
  withdrawn.row = 'held'
  withdrawn.retryAt = due
  emit(withdrawn, '')
  outcome = 'held'
end
local waiting = redis.call('SPOP', K_WAITING, 20)
for _, other in ipairs(waiting) do wake(other, now) end
if outcome ~= 'held' then complete_if_done(job_id, member, now) end
wake(member, now)
return outcome
