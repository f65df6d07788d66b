-- update_config.lua: change a job's configuration, or stage it while the job is ACTIVE.
-- The caller read the job at version ARGV[1] ("<ver>:<pver>": the running config's
-- version and the staged config's) and built the new full configuration; if the job
-- moved on since (another update, a pause), the script changes nothing and answers
-- 'retry' so that the caller reads again. Staging bumps only `pver`: the running
-- configuration, which claims and pumps check, does not change until applied.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] expected version, ARGV[2] 'apply' or 'stage', ARGV[3] full config (JSON),
-- ARGV[4] JSON object text with event details ({"changes": [...]}), ARGV[5] job id
-- Returns (protocol.ConfigUpdate): {outcome, status}; outcome 'applied', 'staged', 'retry', 'conflict', 'missing'.
local job = redis.call('HMGET', K_JOB, 'status', 'ver', 'pver')
local status, ver = job[1], (job[2] or '') .. ':' .. (job[3] or '0')
if not status then return {'missing', ''} end
if status == 'COMPLETE' or status == 'CANCELLED' then return {'conflict', status} end
if ver ~= ARGV[1] then return {'retry', status} end
local staged = status == 'ACTIVE'
if staged ~= (ARGV[2] == 'stage') then return {'retry', status} end
local now = now_ms()
redis.call('HSET', K_JOB, 'updatedAt', now)
if staged then
  redis.call('HINCRBY', K_JOB, 'pver', 1)
  redis.call('HSET', K_JOB, 'pending', ARGV[3])
  emit({type = 'job.updated', jobId = ARGV[5], staged = true}, ARGV[4])
  return {'staged', status}
end
local previous = cap_of(redis.call('HGET', K_JOB, 'config'))
redis.call('HINCRBY', K_JOB, 'ver', 1)
redis.call('HSET', K_JOB, 'config', ARGV[3])
emit({type = 'job.updated', jobId = ARGV[5], staged = false}, ARGV[4])
emit({type = 'job.config_applied', jobId = ARGV[5]}, applied_extra(ARGV[3], previous))
return {'applied', status}
