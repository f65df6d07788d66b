-- commit_job.lua: make a staged job visible, atomically, with its job.created event.
-- The rows and queue were written before (in pipelined chunks, with a TTL so that an
-- interrupted create leaves nothing behind); this script keeps them for good.
-- uses: _lib.lua
-- Rows of a job with recipientHours were also written to their time-zone group's queue,
-- with the groups (ARGV[5] > 0).
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] workspace id, ARGV[3] running config (JSON), ARGV[4] row count,
-- ARGV[5] how many recipient groups were staged (0: the job does not group its rows),
-- ARGV[6] rows left out as repeats of an earlier row's externalId
-- Returns (protocol.Committed): createdAt in milliseconds, or an error if the job id is taken.
if redis.call('EXISTS', K_JOB) == 1 then
  return redis.error_reply('job id already exists')
end
if redis.call('ZCARD', K_QUEUE) ~= tonumber(ARGV[4]) then
  return redis.error_reply('staged rows are missing (the create took longer than their TTL)')
end
local groups = tonumber(ARGV[5] or 0)
local gids = redis.call('HKEYS', K_GROUPS)
if #gids ~= groups then
  return redis.error_reply('staged groups are missing (the create took longer than their TTL)')
end
local grouped_rows = 0
for _, gid in ipairs(gids) do grouped_rows = grouped_rows + redis.call('ZCARD', k_group_queue(gid)) end
if groups > 0 and grouped_rows ~= tonumber(ARGV[4]) then
  return redis.error_reply('staged group queues are missing (the create took longer than their TTL)')
end
local now = now_ms()
redis.call('PERSIST', K_ROWS)
redis.call('PERSIST', K_QUEUE)
-- The rows' externalIds and numbers (issue 17), for the appends that follow.
redis.call('PERSIST', K_EXT)
redis.call('PERSIST', K_NUMS)
redis.call('PERSIST', K_EXPIRY)
if groups > 0 then
  redis.call('PERSIST', K_GROUPS)
  for _, gid in ipairs(gids) do redis.call('PERSIST', k_group_queue(gid)) end
  redis.call('HSET', K_JOB, 'grouped', '1')
end
redis.call('HSET', K_JOB,
  'id', ARGV[1], 'wsId', ARGV[2], 'status', 'INIT',
  'createdAt', now, 'updatedAt', now, 'config', ARGV[3], 'ver', 1,
  'rows', ARGV[4], 'finished', 0, 'cancelled', 0)
redis.call('ZADD', K_JOBS, 0, string.format('%013d:%s', 9999999999999 - now, ARGV[1]))
redis.call('HSET', K_JOBWS, ARGV[1], ARGV[2])
job_moved(nil, 'INIT')
redis.call('HINCRBY', K_STATS, 'queued', tonumber(ARGV[4]))
emit({type = 'job.created', jobId = ARGV[1], to = 'INIT', rows = tonumber(ARGV[4]),
  duplicates = tonumber(ARGV[6] or 0)}, '')
return now
