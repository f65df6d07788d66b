-- set_paused.lua: start, pause or resume a job, with its events, in one step.
-- Pausing applies a staged configuration (job.config_applied). Starting or resuming
-- wakes the job's pump, or completes a job with nothing left to dial (job.completed).
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] '1' to pause, '0' to start/resume; ARGV[2] job id; ARGV[3] wake-up member
-- Returns (protocol.StatusChange): {outcome, status before, status after}; outcome is 'changed', 'noop',
-- 'conflict' (COMPLETE or CANCELLED), 'empty' (an INIT job without rows) or 'missing'.
local before = redis.call('HGET', K_JOB, 'status')
if not before then return {'missing', '', ''} end
if before == 'COMPLETE' or before == 'CANCELLED' then return {'conflict', before, before} end
local job_id = ARGV[2]
local after
if ARGV[1] == '1' then
  -- An INIT job is not running: pausing it changes nothing.
  if before ~= 'ACTIVE' then return {'noop', before, before} end
  after = 'PAUSED'
else
  if before == 'ACTIVE' then return {'noop', before, before} end
  -- A job created without rows is waiting for its appends (issue 17): starting it
  -- would complete it at once, having called nobody.
  if before == 'INIT' and tonumber(redis.call('HGET', K_JOB, 'rows') or 0) == 0 then
    return {'empty', before, before}
  end
  after = 'ACTIVE'
end
local now = now_ms()
redis.call('HSET', K_JOB, 'status', after, 'updatedAt', now)
job_moved(before, after)
local kind = 'job.paused'
if after == 'ACTIVE' then
  if before == 'INIT' then
    kind = 'job.started'
    redis.call('HSET', K_JOB, 'startedAt', now)
  else
    kind = 'job.resumed'
  end
end
emit({type = kind, jobId = job_id, from = before, to = after}, '')
if after == 'PAUSED' then
  local pending = redis.call('HGET', K_JOB, 'pending')
  if pending then
    local previous = cap_of(redis.call('HGET', K_JOB, 'config'))
    redis.call('HSET', K_JOB, 'config', pending)
    redis.call('HDEL', K_JOB, 'pending')
    redis.call('HINCRBY', K_JOB, 'ver', 1)
    emit({type = 'job.config_applied', jobId = job_id}, applied_extra(pending, previous))
  end
elseif complete_if_done(job_id, ARGV[3], now) then
  after = 'COMPLETE'
else
  -- The configuration (and so the schedule) may have changed while the job was not
  -- running: no claim may trust the old window until the pump has computed it again.
  redis.call('HSET', K_JOB, 'windowUntil', 0)
  wake(ARGV[3], now)
end
return {'changed', before, after}
