-- commit_step.lua: one step of an upload's commit (begun by commit_rows.lua, issue 17):
-- at most ARGV[2] staged rows. Any number of processes may run steps of the same commit
-- at once: each step is atomic and moves the commit's shared cursor (k_up_commit).
-- Phases: 'check' (only when another commit changed the job's rows since the upload
-- began): each staged row is checked against the job again; a row whose externalId the
-- job now has is skipped (its staged value blanked), a number the job now has (without
-- both externalIds) ends the commit as a 'clash' before any row went in. 'move': rows get
-- the next row indexes and join the queue in order (and their group's queue when the
-- job groups its rows), with the job's counters, so an append's rows are dialable as
-- they go in; a create's rows go into the keys of a job that does not exist yet. At the
-- end: an append's job.rows_appended (a create's job and its job.created), the job's
-- 'committing' is cleared, the staging dropped and the result kept for an hour (a
-- second driver reads it). An append whose job was cancelled meanwhile ends 'conflict'.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] upload id, ARGV[2] most rows this step, ARGV[3] the commit's lease (ms)
-- Returns (protocol_rows.RowsCommitted): {'step'} (more to do) | {'gone'} (no such
-- commit) | the end: {'ok', appended, duplicates, rows of the job} | {'clash', toNumber}
-- | {'too_many', rows of the job} | {'conflict', status, appended}
local up = ARGV[1]
local k_rows, k_state = k_up_rows(up), k_up_commit(up)
local raw_state = redis.call('HGETALL', k_state)
if #raw_state == 0 then return {'gone'} end
local st = {}
for i = 1, #raw_state, 2 do st[raw_state[i]] = raw_state[i + 1] end
if st.phase == 'done' then return cjson.decode(st.result) end
local job_id, member, creating = st.job, st.member, st.creating == '1'
local staged, cursor = tonumber(st.staged), tonumber(st.cursor)
local base, moved, skipped = tonumber(st.base), tonumber(st.moved), tonumber(st.skipped)
local last = math.min(cursor + tonumber(ARGV[2]), staged)
local now = now_ms()
local commit_member = st.ws .. '|' .. job_id .. '|' .. up

local function finish(result)
  if not creating then redis.call('HDEL', K_JOB, 'committing') end
  redis.call('ZREM', K_COMMITS, commit_member)
  redis.call('UNLINK', k_rows, k_up_groups(up))
  redis.call('HSET', k_state, 'phase', 'done', 'result', cjson.encode(result))
  redis.call('EXPIRE', k_state, 3600)
  return result
end

local function ext_of(row)
  local extra = row[4]
  if type(extra) == 'table' and type(extra.externalId) == 'string' then return extra.externalId end
  return ''
end

-- An append's rows went in (all, or those before a cancel): its event, and the mark that
-- tells uploads begun before it to check their rows again.
local function appended()
  redis.call('HINCRBY', K_JOB, 'appends', 1)
  emit({type = 'job.rows_appended', jobId = job_id, appended = moved,
        duplicates = tonumber(st.dups) + skipped, rows = base + moved}, '')
end

redis.call('ZADD', K_COMMITS, now + tonumber(ARGV[3]), commit_member)
local status = creating and 'INIT' or redis.call('HGET', K_JOB, 'status')
if status ~= 'INIT' and status ~= 'ACTIVE' and status ~= 'PAUSED' then
  if moved > 0 then appended() end
  return finish({'conflict', status or 'missing', moved})
end

if st.phase == 'check' then
  for slot = cursor, last - 1 do
    local row = cjson.decode(redis.call('HGET', k_rows, slot))
    local ext = ext_of(row)
    if ext ~= '' and redis.call('HEXISTS', K_EXT, ext) == 1 then
      redis.call('HSET', k_rows, slot, '')
      skipped = skipped + 1
    else
      local mark = redis.call('HGET', K_NUMS, row[1])
      if mark and (ext == '' or mark == '') then return finish({'clash', row[1]}) end
    end
  end
  if last < staged then
    redis.call('HSET', k_state, 'cursor', last, 'skipped', skipped)
    return {'step'}
  end
  if base + staged - skipped > tonumber(st.max) then return finish({'too_many', base}) end
  redis.call('HSET', k_state, 'phase', 'move', 'cursor', 0, 'skipped', skipped)
  return {'step'}
end

local grouped = st.grouped == '1'
if cursor == 0 then
  -- The upload's new recipient groups join the job's before any of their rows.
  local new_groups = redis.call('HGETALL', k_up_groups(up))
  for i = 1, #new_groups, 2 do redis.call('HSET', K_GROUPS, new_groups[i], new_groups[i + 1]) end
  -- Workers cache the groups with the configuration: a new version makes them reload.
  if #new_groups > 0 and not creating then redis.call('HINCRBY', K_JOB, 'ver', 1) end
end
-- The step's rows are read by one HMGET and written by one call per key (a call per
-- row and key cost most of a commit's time: 8.8 us a row, 2026-12-02).
-- Lua's unpack takes at most about 8,000 values: the calls go in pieces of BULK (even:
-- pairs stay whole).
local BULK = 1000
local function bulk(cmd, key, args)
  for i = 1, #args, BULK do
    redis.call(cmd, key, unpack(args, i, math.min(i + BULK - 1, #args)))
  end
end
local function bulk_get(key, fields)
  local out = {}
  for i = 1, #fields, BULK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + BULK - 1, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
local slots = {}
for slot = cursor, last - 1 do slots[#slots + 1] = slot end
local raws = bulk_get(k_rows, slots)
local rows, queue, exts, expiry, plain, named = {}, {}, {}, {}, {}, {}
local groups = {}
local n = 0
for i = 1, #raws do
  local raw = raws[i]
  if raw ~= '' then
    local row = cjson.decode(raw)
    local index = base + moved + n
    rows[#rows + 1] = index
    rows[#rows + 1] = raw
    queue[#queue + 1] = index
    queue[#queue + 1] = index
    if grouped and type(row[3]) == 'string' and row[3] ~= '' then
      local g = groups[row[3]]
      if not g then g = {}; groups[row[3]] = g end
      g[#g + 1] = index
      g[#g + 1] = index
    end
    local ext = ext_of(row)
    if ext ~= '' then
      exts[#exts + 1] = ext
      exts[#exts + 1] = index
      named[#named + 1] = row[1]
    else
      plain[#plain + 1] = row[1]
      plain[#plain + 1] = ''
    end
    if type(row[4]) == 'table' and tonumber(row[4].expiresAt) then
      expiry[#expiry + 1] = tonumber(row[4].expiresAt)
      expiry[#expiry + 1] = index
    end
    n = n + 1
  end
end
-- A number every row of which carries an externalId is marked 'x' unless the job has it
-- already; a row without one marks its number '' (staging refused every other mix).
local marks = {}
if #named > 0 then
  local have = bulk_get(K_NUMS, named)
  for i = 1, #named do
    if not have[i] then
      marks[#marks + 1] = named[i]
      marks[#marks + 1] = 'x'
    end
  end
end
bulk('HSET', K_ROWS, rows)
bulk('ZADD', K_QUEUE, queue)
bulk('HSET', K_EXT, exts)
bulk('ZADD', K_EXPIRY, expiry)
bulk('HSET', K_NUMS, marks)
bulk('HSET', K_NUMS, plain)
for gid, members in pairs(groups) do bulk('ZADD', k_group_queue(gid), members) end
moved = moved + n
if not creating and n > 0 then
  if grouped then redis.call('HSET', K_JOB, 'grouped', '1') end
  redis.call('HSET', K_JOB, 'rows', base + moved, 'updatedAt', now)
  redis.call('HINCRBY', K_STATS, 'queued', n)
  if status == 'ACTIVE' then wake(member, now) end
end
if last < staged then
  redis.call('HSET', k_state, 'cursor', last, 'moved', moved)
  return {'step'}
end
local dups = tonumber(st.dups) + skipped
if creating then
  redis.call('HSET', K_JOB, 'id', job_id, 'wsId', st.ws, 'status', 'INIT',
    'createdAt', now, 'updatedAt', now, 'config', st.config, 'ver', 1,
    'rows', moved, 'finished', 0, 'cancelled', 0, 'appends', 1)
  if grouped and moved > 0 then redis.call('HSET', K_JOB, 'grouped', '1') end
  redis.call('ZADD', K_JOBS, 0, string.format('%013d:%s', 9999999999999 - now, job_id))
  redis.call('HSET', K_JOBWS, job_id, st.ws)
  job_moved(nil, 'INIT')
  if moved > 0 then redis.call('HINCRBY', K_STATS, 'queued', moved) end
  emit({type = 'job.created', jobId = job_id, to = 'INIT', rows = moved, duplicates = dups}, '')
  return finish({'ok', moved, dups, moved})
end
appended()
local result = finish({'ok', moved, dups, base + moved})
-- The job may complete now: its rows may all be done already (or none went in).
if status == 'ACTIVE' or status == 'PAUSED' then complete_if_done(job_id, member, now) end
return result
