-- commit_rows.lua: begin taking an upload's staged rows into its job (issue 17). The rows
-- go in by steps of a bounded number of rows (commit_step.lua), so that a million-row
-- upload never holds Redis for seconds; this script checks that the commit may begin and
-- records it (the upload's commit state, k_up_commit). From here on the commit is carried
-- to its end, never back: any process may run its steps (each is atomic and moves the
-- shared cursor), and one does once its lease lapses (K_COMMITS: the request that began
-- it, another upload to the job, or any worker's timer), so it is never left half-done.
-- One commit per job at a time: the job's 'committing' names it; while it is set the job
-- does not complete (complete_if_done in _lib.lua). The upload's own staging checks
-- (k_up_ext, k_up_nums) are no longer needed and are dropped here.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] upload id, ARGV[3] rows staged, ARGV[4] the job's 'appends'
-- when the upload began, ARGV[5] most rows a job may have, ARGV[6] wake-up member,
-- ARGV[7] duplicates found while staging, ARGV[8] '1' when the job groups its rows,
-- ARGV[9] the new job's config (a create with its rows; '' for an append), ARGV[10] the
-- workspace id,
-- ARGV[11] the commit's lease (ms)
-- Returns (protocol_rows.RowsCommitted): {'begun'} | {'busy', upload id of the job's
-- commit under way} | {'missing'} | {'conflict', status} | {'expired'} |
-- {'too_many', rows of the job}
local job_id, up, staged = ARGV[1], ARGV[2], tonumber(ARGV[3])
local k_rows, k_state = k_up_rows(up), k_up_commit(up)
local creating = (ARGV[9] or '') ~= ''
local total, phase = 0, 'move'
if creating then
  if redis.call('EXISTS', K_JOB) == 1 then return redis.error_reply('job id already exists') end
else
  local job = redis.call('HMGET', K_JOB, 'status', 'rows', 'appends', 'committing')
  if not job[1] then return {'missing'} end
  if job[1] ~= 'INIT' and job[1] ~= 'ACTIVE' and job[1] ~= 'PAUSED' then
    return {'conflict', job[1]}
  end
  if job[4] and job[4] ~= up then return {'busy', job[4]} end
  total = tonumber(job[2] or 0)
  -- Another commit changed the job's rows since this upload began: every staged row is
  -- checked against the job again before any goes in (the 'check' phase).
  if tostring(job[3] or 0) ~= ARGV[4] then phase = 'check' end
end
if redis.call('HLEN', k_rows) ~= staged then return {'expired'} end
if phase == 'move' and total + staged > tonumber(ARGV[5]) then return {'too_many', total} end
local now = now_ms()
redis.call('HSET', k_state, 'job', job_id, 'ws', ARGV[10], 'member', ARGV[6],
  'staged', staged, 'base', total, 'max', ARGV[5], 'cursor', 0, 'moved', 0, 'skipped', 0,
  'dups', ARGV[7], 'grouped', ARGV[8], 'phase', phase, 'config', ARGV[9] or '',
  'creating', creating and '1' or '0')
redis.call('PERSIST', k_rows)
redis.call('PERSIST', k_up_groups(up))
redis.call('UNLINK', k_up_ext(up), k_up_nums(up))
if not creating then redis.call('HSET', K_JOB, 'committing', up) end
redis.call('ZADD', K_COMMITS, now + tonumber(ARGV[11]), ARGV[10] .. '|' .. job_id .. '|' .. up)
return {'begun'}
