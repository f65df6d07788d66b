-- _lib.lua: helpers prepended to every job script by domain/scripts.py.
-- Job scripts receive Keys.script_keys() first, in this order, then their own keys.
local K_JOB, K_ROWS, K_QUEUE, K_RELEASED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_CANCELLED, K_DIALING, K_EVENTS, K_DIALS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_SEM, K_RELT, K_WAKEUPS, K_DEADLINES = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local K_WS_SEM, K_WS, K_NUMBERS, K_WAITING = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local K_STATS = KEYS[17]
local N_SCRIPT_KEYS = 17

-- Keep the namespace-wide totals (ns:stats) that metrics read in step with a job's
-- status change.
local function job_moved(from, to)
  if from then redis.call('HINCRBY', K_STATS, 'jobs:' .. from, -1) end
  redis.call('HINCRBY', K_STATS, 'jobs:' .. to, 1)
end

-- Milliseconds since the epoch from Redis's clock (the one clock all hosts share).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Append one event to the job's stream. `fields` is a flat table of strings,
-- numbers and booleans; `extra` is JSON object text (or '') whose members are
-- added to the event. Returns the event id (the stream entry id).
local function emit(fields, extra)
  local body = cjson.encode(fields)
  if extra and extra ~= '' and extra ~= '{}' then
    body = string.sub(body, 1, -2) .. ',' .. string.sub(extra, 2)
  end
  return redis.call('XADD', K_EVENTS, '*', 'e', body)
end

-- Rows not yet finished or cancelled: waiting, released to the broker, or dialing.
local function rows_open()
  return redis.call('ZCARD', K_QUEUE) + redis.call('ZCARD', K_RELEASED)
    + redis.call('HLEN', K_DIALING)
end

-- Mark the job COMPLETE (with its event) if it is ACTIVE or PAUSED and nothing is
-- left to dial or in progress. Returns true when it completed the job.
local function complete_if_done(job_id, member, now)
  local status = redis.call('HGET', K_JOB, 'status')
  if (status ~= 'ACTIVE' and status ~= 'PAUSED') or rows_open() > 0 then return false end
  redis.call('HSET', K_JOB, 'status', 'COMPLETE', 'updatedAt', now, 'completedAt', now)
  redis.call('HDEL', K_JOB, 'pending')
  job_moved(status, 'COMPLETE')
  redis.call('ZREM', K_WAKEUPS, member)
  emit({type = 'job.completed', jobId = job_id, from = status, to = 'COMPLETE'}, '')
  return true
end

-- Ask for the job's pump to run at `at` (ms) unless it is due earlier already.
local function wake(member, at)
  redis.call('ZADD', K_WAKEUPS, 'LT', at, member)
end

-- How many slots of a semaphore are taken. A lapsed lease still takes its slot until
-- the reaper has ended its dial (within about a second), so that the dial's
-- dial.finished always comes before the dial.started of whoever reuses the slot.
-- Members lapsed for over a minute (their dial record lost) are dropped here as a
-- last resort, so that no slot can leak for ever.
local ORPHAN_LEASE_MS = 60000
local function purge(sem, now)
  redis.call('ZREMRANGEBYSCORE', sem, '-inf', now - ORPHAN_LEASE_MS)
  return redis.call('ZCARD', sem)
end

-- Release up to `n` waiting rows to the broker, in dialing order. Returns their indexes.
local function release_rows(n, now)
  if n <= 0 then return {} end
  local popped = redis.call('ZPOPMIN', K_QUEUE, n)
  local out = {}
  for i = 1, #popped, 2 do
    redis.call('ZADD', K_RELEASED, popped[i + 1], popped[i])
    redis.call('ZADD', K_RELT, now, popped[i])
    out[#out + 1] = popped[i]
  end
  return out
end

-- Rows the job may still release: its cap less rows released or holding a live lease.
local function credit(cap, now)
  return cap - redis.call('ZCARD', K_RELEASED) - purge(K_SEM, now)
end
