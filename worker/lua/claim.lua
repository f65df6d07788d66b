-- claim.lua: claim a released row for one dial attempt and take its three leases
-- (job cap, workspace dial limit, one pool number), all or nothing, in one step.
-- The row moves released -> dialing with a fresh dial id, the dial is recorded and
-- dial.started is appended. A second delivery of the same message finds the row no
-- longer released and claims nothing. When the job is not ACTIVE, its window is
-- closed, or a limit is full, the row goes back to the queue for the pump.
-- The pool number is the least busy one with room; ties rotate (a per-job counter).
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua), the new dial's record, then the
-- semaphore of each pool number, in the order of ARGV[8].
-- ARGV[1] wake-up member, ARGV[2] job id, ARGV[3] config version, ARGV[4] row index,
-- ARGV[5] dial id, ARGV[6] lease (ms), ARGV[7] the job's cap, ARGV[8] pool number ids
-- joined by ',', ARGV[9] attempt, ARGV[10] workspace id, ARGV[11] deadline member
-- Returns: {'gone'} | {'stale'} | {'paused'} | {'closed'} | {'full', 'job'|'workspace'|'number'}
--        | {'ok', fromNumber, fromNumberId, row JSON, startedAt, openedAt of the window if
--          this is its first dial, else ''}
local K_DIAL = KEYS[N_SCRIPT_KEYS + 1]
local member, job_id, index, dial_id = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local job = redis.call('HMGET', K_JOB, 'status', 'ver', 'window', 'windowUntil')
if not job[1] then return {'gone'} end
local score = redis.call('ZSCORE', K_RELEASED, index)
if not score then return {'gone'} end
if job[2] ~= ARGV[3] then return {'stale'} end
local now = now_ms()

local function back()
  redis.call('ZREM', K_RELEASED, index)
  redis.call('ZREM', K_RELT, index)
  redis.call('ZADD', K_QUEUE, score, index)
end

if job[1] ~= 'ACTIVE' then
  back()
  return {'paused'}
end
if job[3] ~= 'open' or now >= tonumber(job[4] or 0) then
  back()
  wake(member, now)
  return {'closed'}
end
if purge(K_SEM, now) >= tonumber(ARGV[7]) then
  back()
  return {'full', 'job'}
end
local limit = tonumber(redis.call('HGET', K_WS, 'dialLimit') or 0)
if purge(K_WS_SEM, now) >= limit then
  back()
  redis.call('SADD', K_WAITING, member)
  wake(member, now + 2000)
  return {'full', 'workspace'}
end

local ids = {}
for id in string.gmatch(ARGV[8], '[^,]+') do ids[#ids + 1] = id end
local n = #ids
local turn = redis.call('HINCRBY', K_JOB, 'rr', 1)
local best, best_count, best_number = nil, nil, nil
for k = 0, n - 1 do
  local i = ((turn + k) % n) + 1
  local raw = redis.call('HGET', K_NUMBERS, ids[i])
  if raw then
    local number = cjson.decode(raw)
    local busy = purge(KEYS[N_SCRIPT_KEYS + 1 + i], now)
    if busy < tonumber(number.max) and (best == nil or busy < best_count) then
      best, best_count, best_number = i, busy, number.number
    end
  end
end
if best == nil then
  back()
  redis.call('SADD', K_WAITING, member)
  wake(member, now + 2000)
  return {'full', 'number'}
end

local row = redis.call('HGET', K_ROWS, index)
if not row then
  -- Never expected (rows live as long as their job); refuse before writing anything.
  return redis.error_reply('row ' .. index .. ' of ' .. job_id .. ' has no data')
end
local to_number = cjson.decode(row)[1]
local expiry = now + tonumber(ARGV[6])
redis.call('ZADD', K_SEM, expiry, dial_id)
redis.call('ZADD', K_WS_SEM, expiry, dial_id)
redis.call('ZADD', KEYS[N_SCRIPT_KEYS + 1 + best], expiry, dial_id)
redis.call('ZADD', K_DEADLINES, expiry, ARGV[11])
redis.call('ZREM', K_RELEASED, index)
redis.call('ZREM', K_RELT, index)
redis.call('HSET', K_DIALING, index, dial_id)
redis.call('HINCRBY', K_STATS, 'queued', -1)
redis.call('HINCRBY', K_STATS, 'inProgress', 1)
redis.call('ZADD', K_DIALS, redis.call('HINCRBY', K_JOB, 'dialseq', 1), dial_id)
local row_id = job_id .. '.' .. index
redis.call('HSET', K_DIAL, 'dialId', dial_id, 'jobId', job_id, 'wsId', ARGV[10],
  'rowId', row_id, 'index', index, 'toNumber', to_number, 'fromNumber', best_number,
  'fromNumberId', ids[best], 'status', 'in-progress', 'startedAt', now,
  'attempt', ARGV[9], 'leaseUntil', expiry, 'owner', 'worker')
emit({type = 'dial.started', jobId = job_id, dialId = dial_id, rowId = row_id,
  to = 'in-progress', fromNumber = best_number, toNumber = to_number,
  attempt = tonumber(ARGV[9])}, '')
local opened = redis.call('HGET', K_JOB, 'openedAt')
if opened then redis.call('HDEL', K_JOB, 'openedAt') end
return {'ok', best_number, ids[best], row, now, opened or ''}
