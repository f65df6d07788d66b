-- cancel_job.lua: cancel a job; every row still waiting (queued or released to the
-- broker but not claimed) is marked cancelled in the same step. Dials in progress
-- go on and are recorded when they end.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV[1] job id, ARGV[2] wake-up member
-- Returns: {outcome, status before, rows cancelled}; outcome 'changed', 'noop'
-- (already CANCELLED), 'conflict' (COMPLETE) or 'missing'.
local before = redis.call('HGET', K_JOB, 'status')
if not before then return {'missing', '', 0} end
if before == 'CANCELLED' then return {'noop', before, 0} end
if before == 'COMPLETE' then return {'conflict', before, 0} end
local n = redis.call('ZCARD', K_QUEUE) + redis.call('ZCARD', K_RELEASED)
if n > 0 then
  redis.call('ZUNIONSTORE', K_CANCELLED, 3, K_CANCELLED, K_QUEUE, K_RELEASED)
  redis.call('DEL', K_QUEUE, K_RELEASED, K_RELT)
end
redis.call('ZREM', K_WAKEUPS, ARGV[2])
local now = now_ms()
redis.call('HSET', K_JOB, 'status', 'CANCELLED', 'updatedAt', now, 'cancelledAt', now)
redis.call('HINCRBY', K_JOB, 'cancelled', n)
redis.call('HINCRBY', K_STATS, 'queued', -n)
job_moved(before, 'CANCELLED')
redis.call('HDEL', K_JOB, 'pending')
emit({type = 'job.cancelled', jobId = ARGV[1], from = before, to = 'CANCELLED',
      cancelledRows = n}, '')
return {'changed', before, n}
