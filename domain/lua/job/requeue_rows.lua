-- requeue_rows.lua: a manual retry by outcome (issue 17): finished rows whose outcome is
-- one of ARGV[3] go back to the queue as their next attempt, whatever the job's retry
-- policy allows (the claim still applies suppression, caps and calling hours). A
-- COMPLETE job becomes ACTIVE again (job.reopened); an ACTIVE one is woken.
-- job.rows_requeued records how many rows went back (one event per call that moved any). Each row is checked here, in the
-- same step as it is requeued: one that is waiting, dialing or cancelled, or whose
-- outcome is another, is left as it is.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] wake-up member, ARGV[3] outcomes joined by ',', then the
-- indexes of the rows to requeue (ARGV[4] on)
-- Returns (protocol_rows.RowsCommitted): {'ok', rows requeued, 0, 0, status after} | {'missing'} |
-- {'conflict', status}
local job_id, member = ARGV[1], ARGV[2]
local status = redis.call('HGET', K_JOB, 'status')
if not status then return {'missing'} end
if status == 'CANCELLED' then return {'conflict', status} end
local want = {}
for outcome in string.gmatch(ARGV[3], '[^,]+') do want[outcome] = true end
local grouped = is_grouped()
local n = 0
for i = 4, #ARGV do
  local index = ARGV[i]
  local waiting = redis.call('ZSCORE', K_QUEUE, index) or redis.call('ZSCORE', K_HELD, index)
    or redis.call('ZSCORE', K_RELEASED, index) or redis.call('ZSCORE', K_CANCELLED, index)
    or redis.call('HEXISTS', K_DIALING, index) == 1
  local last = redis.call('HGET', K_LAST, index)
  if not waiting and last then
    local outcome, attempt = 'suppressed', nil
    if last ~= ':suppressed' then
      local d = redis.call('HMGET', k_dial(last), 'status', 'attempt')
      outcome, attempt = d[1], d[2]
    end
    if outcome and want[outcome] then
      if attempt then redis.call('HSET', K_ATT, index, attempt) end
      requeue(index, tonumber(index), grouped)
      redis.call('HINCRBY', K_JOB, 'finished', -1)
      redis.call('HINCRBY', K_JOB, 'out:' .. outcome, -1)
      redis.call('HINCRBY', K_STATS, 'queued', 1)
      n = n + 1
    end
  end
end
local now = now_ms()
if n > 0 and status == 'COMPLETE' then
  redis.call('HSET', K_JOB, 'status', 'ACTIVE', 'updatedAt', now)
  redis.call('HDEL', K_JOB, 'completedAt')
  job_moved('COMPLETE', 'ACTIVE')
  emit({type = 'job.reopened', jobId = job_id, from = 'COMPLETE', to = 'ACTIVE'}, '')
  -- The window was last computed before the job completed: the pump computes it again.
  redis.call('HSET', K_JOB, 'windowUntil', 0)
  status = 'ACTIVE'
end
if n > 0 then
  emit({type = 'job.rows_requeued', jobId = job_id, requeued = n, outcomes = ARGV[3]}, '')
end
if n > 0 and status == 'ACTIVE' then wake(member, now) end
return {'ok', n, 0, 0, status}
