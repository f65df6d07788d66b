-- commit_job.lua: make a staged job visible, atomically, with its job.created event.
-- The rows and queue were written before (in pipelined chunks, with a TTL so that an
-- interrupted create leaves nothing behind); this script keeps them for good.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua), then the workspace's jobs index and the
-- job -> workspace index.
-- ARGV[1] job id, ARGV[2] workspace id, ARGV[3] running config (JSON), ARGV[4] row count
-- Returns: createdAt in milliseconds, or an error if the job id is taken.
if redis.call('EXISTS', K_JOB) == 1 then
  return redis.error_reply('job id already exists')
end
if redis.call('ZCARD', K_QUEUE) ~= tonumber(ARGV[4]) then
  return redis.error_reply('staged rows are missing (the create took longer than their TTL)')
end
local now = now_ms()
redis.call('PERSIST', K_ROWS)
redis.call('PERSIST', K_QUEUE)
redis.call('HSET', K_JOB,
  'id', ARGV[1], 'wsId', ARGV[2], 'status', 'INIT',
  'createdAt', now, 'updatedAt', now, 'config', ARGV[3], 'ver', 1,
  'rows', ARGV[4], 'finished', 0, 'cancelled', 0)
redis.call('ZADD', KEYS[N_SCRIPT_KEYS + 1], 0, string.format('%013d:%s', 9999999999999 - now, ARGV[1]))
redis.call('HSET', KEYS[N_SCRIPT_KEYS + 2], ARGV[1], ARGV[2])
job_moved(nil, 'INIT')
redis.call('HINCRBY', K_STATS, 'queued', tonumber(ARGV[4]))
emit({type = 'job.created', jobId = ARGV[1], to = 'INIT', rows = tonumber(ARGV[4])}, '')
return now
