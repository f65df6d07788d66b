-- commit_rows.lua: take an append's staged rows into the job in one step (issue 17):
-- they get the next row indexes, join the queue in order (and their time-zone group's
-- queue when the job groups its rows), the new groups join the job's groups, the
-- counters move, rows with an expiry join the job's expiry index, job.rows_appended is
-- appended and the staging is dropped. An ACTIVE job's
-- pump is woken. When another commit changed the job's rows since the upload began
-- (ARGV[4]), every staged row is checked again first: a row whose externalId the job
-- now has is skipped, a number the job now has (without both externalIds) refuses
-- the whole commit.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] upload id, ARGV[3] rows staged, ARGV[4] the job's 'appends'
-- when the upload began, ARGV[5] most rows a job may have, ARGV[6] wake-up member,
-- ARGV[7] duplicates found while staging, ARGV[8] '1' when the job groups its rows,
-- ARGV[9] and ARGV[10] (a create with its rows): the new job's config and workspace id
-- Returns (protocol_rows.RowsCommitted): {'ok', appended, duplicates, rows of the job} |
-- {'missing'} | {'conflict', status} | {'expired'} | {'too_many', rows of the job} |
-- {'clash', toNumber}
local job_id, up, staged = ARGV[1], ARGV[2], tonumber(ARGV[3])
local k_rows, k_ext, k_nums, k_groups = k_up_rows(up), k_up_ext(up), k_up_nums(up), k_up_groups(up)
-- A create with its rows (multipart, issue 17): ARGV[9] the running config, ARGV[10]
-- the workspace id; the job is made here, with its rows, in this one step.
local creating = (ARGV[9] or '') ~= ''
local job
if creating then
  if redis.call('EXISTS', K_JOB) == 1 then return redis.error_reply('job id already exists') end
  job = {'INIT', '0', '0'}
else
  job = redis.call('HMGET', K_JOB, 'status', 'rows', 'appends')
end
if not job[1] then return {'missing'} end
if job[1] ~= 'INIT' and job[1] ~= 'ACTIVE' and job[1] ~= 'PAUSED' then
  return {'conflict', job[1]}
end
if redis.call('HLEN', k_rows) ~= staged then return {'expired'} end
local total = tonumber(job[2] or 0)
local dups = tonumber(ARGV[7])
local grouped = ARGV[8] == '1'

local function ext_of(row)
  local extra = row[4]
  if type(extra) == 'table' and type(extra.externalId) == 'string' then return extra.externalId end
  return ''
end

local skip, skipped = {}, 0
if tostring(job[3] or 0) ~= ARGV[4] then
  for slot = 0, staged - 1 do
    local row = cjson.decode(redis.call('HGET', k_rows, slot))
    local ext = ext_of(row)
    if ext ~= '' and redis.call('HEXISTS', K_EXT, ext) == 1 then
      skip[slot] = true
      skipped = skipped + 1
    else
      local mark = redis.call('HGET', K_NUMS, row[1])
      if mark and (ext == '' or mark == '') then return {'clash', row[1]} end
    end
  end
end
if total + staged - skipped > tonumber(ARGV[5]) then return {'too_many', total} end
local n = 0
for slot = 0, staged - 1 do
  if skip[slot] then
    dups = dups + 1
  else
    local raw = redis.call('HGET', k_rows, slot)
    local row = cjson.decode(raw)
    local index = total + n
    redis.call('HSET', K_ROWS, index, raw)
    redis.call('ZADD', K_QUEUE, index, index)
    if grouped and type(row[3]) == 'string' and row[3] ~= '' then
      redis.call('ZADD', k_group_queue(row[3]), index, index)
    end
    local ext = ext_of(row)
    if ext ~= '' then redis.call('HSET', K_EXT, ext, index) end
    if type(row[4]) == 'table' and tonumber(row[4].expiresAt) then
      redis.call('ZADD', K_EXPIRY, tonumber(row[4].expiresAt), index)
    end
    local mark = redis.call('HGET', K_NUMS, row[1])
    if ext == '' then
      redis.call('HSET', K_NUMS, row[1], '')
    elseif not mark then
      redis.call('HSET', K_NUMS, row[1], 'x')
    end
    n = n + 1
  end
end
local new_groups = redis.call('HGETALL', k_groups)
for i = 1, #new_groups, 2 do redis.call('HSET', K_GROUPS, new_groups[i], new_groups[i + 1]) end
local now = now_ms()
if creating then
  redis.call('HSET', K_JOB, 'id', job_id, 'wsId', ARGV[10], 'status', 'INIT',
    'createdAt', now, 'updatedAt', now, 'config', ARGV[9], 'ver', 1,
    'rows', n, 'finished', 0, 'cancelled', 0, 'appends', 1)
  if grouped and n > 0 then redis.call('HSET', K_JOB, 'grouped', '1') end
  redis.call('ZADD', K_JOBS, 0, string.format('%013d:%s', 9999999999999 - now, job_id))
  redis.call('HSET', K_JOBWS, job_id, ARGV[10])
  job_moved(nil, 'INIT')
  redis.call('HINCRBY', K_STATS, 'queued', n)
  redis.call('DEL', k_rows, k_ext, k_nums, k_groups)
  emit({type = 'job.created', jobId = job_id, to = 'INIT', rows = n, duplicates = dups}, '')
  return {'ok', n, dups, n}
end
if #new_groups > 0 then
  -- Workers cache the groups with the configuration: a new version makes them reload.
  redis.call('HINCRBY', K_JOB, 'ver', 1)
end
if grouped and n > 0 then redis.call('HSET', K_JOB, 'grouped', '1') end
redis.call('HSET', K_JOB, 'rows', total + n, 'updatedAt', now)
redis.call('HINCRBY', K_JOB, 'appends', 1)
redis.call('HINCRBY', K_STATS, 'queued', n)
redis.call('DEL', k_rows, k_ext, k_nums, k_groups)
emit({type = 'job.rows_appended', jobId = job_id, appended = n, duplicates = dups, rows = total + n}, '')
if job[1] == 'ACTIVE' and n > 0 then wake(ARGV[6], now) end
return {'ok', n, dups, total + n}
