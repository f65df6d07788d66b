-- cancel_job.lua: cancel a job; every row still waiting (queued, held for a retry or a
-- frequency cap, or released to the broker but not claimed) is marked cancelled in the
-- same step. Dials in progress
-- go on and are recorded when they end.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] wake-up member
-- Returns (protocol.Cancellation): {outcome, status before, rows cancelled}; outcome 'changed', 'noop'
-- (already CANCELLED), 'conflict' (COMPLETE) or 'missing'.
local before = redis.call('HGET', K_JOB, 'status')
if not before then return {'missing', '', 0} end
if before == 'CANCELLED' then return {'noop', before, 0} end
if before == 'COMPLETE' then return {'conflict', before, 0} end
local n = redis.call('ZCARD', K_QUEUE) + redis.call('ZCARD', K_RELEASED)
  + redis.call('ZCARD', K_HELD)
if n > 0 then
  -- Held rows are scored by when they were due; cancelled rows by dialing order.
  for _, index in ipairs(redis.call('ZRANGE', K_HELD, 0, -1)) do
    redis.call('ZADD', K_CANCELLED, tonumber(index), index)
  end
  redis.call('ZUNIONSTORE', K_CANCELLED, 3, K_CANCELLED, K_QUEUE, K_RELEASED)
  redis.call('DEL', K_QUEUE, K_RELEASED, K_RELT, K_HELD, K_HOLDWHY)
  redis.call('HINCRBY', K_JOB, 'cancelled', n)
  -- Only when n > 0: with n = 0, Lua writes -n as "-0", which HINCRBY refuses
  -- ("value is not an integer or out of range"), and the cancel failed.
  redis.call('HINCRBY', K_STATS, 'queued', -n)
end
for _, gid in ipairs(redis.call('HKEYS', K_GROUPS)) do redis.call('DEL', k_group_queue(gid)) end
redis.call('DEL', K_GOPEN)
redis.call('ZREM', K_WAKEUPS, ARGV[2])
local now = now_ms()
redis.call('HSET', K_JOB, 'status', 'CANCELLED', 'updatedAt', now, 'cancelledAt', now)
job_moved(before, 'CANCELLED')
redis.call('HDEL', K_JOB, 'pending')
emit({type = 'job.cancelled', jobId = ARGV[1], from = before, to = 'CANCELLED',
      cancelledRows = n}, '')
return {'changed', before, n}
