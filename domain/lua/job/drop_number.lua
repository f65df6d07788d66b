-- drop_number.lua: take a phone number the workspace deletes out of one job's pool, at
-- once, in its running and its staged configuration (never silently: the job's log gets
-- job.phone_number_removed). The caller read the job at version ARGV[1] ("<ver>:<pver>")
-- and built both configurations without the number; if the job moved on since, nothing
-- changes and the answer is 'retry'. The running configuration's version moves on, so
-- that workers load the new pool.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] expected version, ARGV[2] the running config without the number (JSON),
-- ARGV[3] the staged config without it ('' if none), ARGV[4] job id, ARGV[5] number id,
-- ARGV[6] the number (E.164)
-- Returns (protocol.ConfigUpdate): {outcome, status}; outcome 'applied', 'retry', 'missing'.
local job = redis.call('HMGET', K_JOB, 'status', 'ver', 'pver')
local status, ver = job[1], (job[2] or '') .. ':' .. (job[3] or '0')
if not status then return {'missing', ''} end
if ver ~= ARGV[1] then return {'retry', status} end
local now = now_ms()
redis.call('HINCRBY', K_JOB, 'ver', 1)
redis.call('HSET', K_JOB, 'config', ARGV[2], 'updatedAt', now)
if ARGV[3] ~= '' then
  redis.call('HINCRBY', K_JOB, 'pver', 1)
  redis.call('HSET', K_JOB, 'pending', ARGV[3])
end
emit({type = 'job.phone_number_removed', jobId = ARGV[4], numberId = ARGV[5],
  number = ARGV[6]}, '')
return {'applied', status}
