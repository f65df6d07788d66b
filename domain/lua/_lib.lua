-- _lib.lua: helpers that domain/scripts.py prepends to every script whose header says
-- "uses: _lib.lua" (in job/ and engine/), after the key names that domain/keys.py
-- generates (lua_prelude): K_JOB, K_QUEUE, K_WS_SEM, ...
-- KEYS: those scripts receive Keys.script_keys() first (N_SCRIPT_KEYS of them), then
-- their own.
-- ARGV: none read here (each helper takes its arguments).
-- Returns: nothing (it defines local functions; the script that follows returns).

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

-- An instant (ms since the epoch) as ISO 8601 UTC, "2026-12-07T14:00:00.000Z": every
-- time in an event is written so, like the API's (issue 18); the date is the civil date
-- of the day count (H. Hinnant's days-to-civil; proleptic Gregorian).
local function iso_ms(ms)
  local s = math.floor(ms / 1000)
  local milli = ms - s * 1000
  local days = math.floor(s / 86400)
  local sod = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400
  if month <= 2 then year = year + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day,
    math.floor(sod / 3600), math.floor((sod % 3600) / 60), sod % 60, milli)
end

-- The maxConcurrentDials of a stored config (JSON text), or nil.
local function cap_of(config)
  if not config then return nil end
  local ok, decoded = pcall(cjson.decode, config)
  if not ok or type(decoded) ~= 'table' then return nil end
  return tonumber(decoded.maxConcurrentDials)
end

-- The details of job.config_applied: the config now running, and the cap it replaced
-- (previousMaxConcurrentDials), so that a chart can draw the cap as it was at each
-- instant from the event log alone (issue 18).
local function applied_extra(config, previous)
  local extra = '{"config":' .. config
  if previous then
    extra = extra .. ',"previousMaxConcurrentDials":' .. string.format('%d', previous)
  end
  return extra .. '}'
end

-- Append one event to the job's stream. `fields` is a flat table of strings,
-- numbers and booleans; `extra` is JSON object text (or '') whose members are
-- added to the event. Returns the event id (the stream entry id). `at` (ms, optional)
-- makes the event's time that instant (a script's own TIME; Redis's clock moves on
-- while a script runs) unless the stream already holds a later entry.
-- While the workspace has webhook endpoints (K_WH exists), the event also goes to the
-- workspace's webhook outbox (job id, event id, body), in this same script: an event
-- is never recorded without its outbox entry (issue 16). Filters are applied later,
-- by the workers' fan-out (worker/webhooks/), so this costs one EXISTS and one XADD.
local function emit(fields, extra, at)
  local body = cjson.encode(fields)
  if extra and extra ~= '' and extra ~= '{}' then
    body = string.sub(body, 1, -2) .. ',' .. string.sub(extra, 2)
  end
  local id = nil
  if at then
    id = redis.pcall('XADD', K_EVENTS, string.format('%d', at) .. '-*', 'e', body)
    if type(id) ~= 'string' then id = nil end
  end
  id = id or redis.call('XADD', K_EVENTS, '*', 'e', body)
  if redis.call('EXISTS', K_WH) == 1 then
    -- K_JOB is K_WSP .. ':job:' .. <job id>
    redis.call('XADD', K_WH_OUT, '*', 'j', string.sub(K_JOB, #K_WSP + 6), 'i', id, 'e', body)
  end
  return id
end

-- Rows not yet finished or cancelled: waiting (queued, or held for a retry or a
-- frequency cap), released to the broker, or dialing.
local function rows_open()
  return redis.call('ZCARD', K_QUEUE) + redis.call('ZCARD', K_RELEASED)
    + redis.call('HLEN', K_DIALING) + redis.call('ZCARD', K_HELD)
end

-- Mark the job COMPLETE (with its event) if it is ACTIVE or PAUSED and nothing is
-- left to dial or in progress, and no upload's rows are still going in (its
-- 'committing': commit_step.lua). Returns true when it completed the job.
local function complete_if_done(job_id, member, now)
  local job = redis.call('HMGET', K_JOB, 'status', 'committing')
  local status = job[1]
  if (status ~= 'ACTIVE' and status ~= 'PAUSED') or job[2] or rows_open() > 0 then
    return false
  end
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

-- The recipients' time-zone group of a row (jobs with recipientHours store it third).
local function group_of(index)
  local raw = redis.call('HGET', K_ROWS, index)
  if not raw then return nil end
  local gid = cjson.decode(raw)[3]
  -- A row with extra fields (externalId...) and no group holds '' there.
  if type(gid) ~= 'string' or gid == '' then return nil end
  return gid
end

-- Whether the job groups its rows by the recipients' time zones (recipientHours).
local function is_grouped()
  return redis.call('HGET', K_JOB, 'grouped') == '1'
end

-- Put a row back among the waiting rows at dialing order `score` (and into its group's
-- queue when the job is `grouped`).
local function requeue(index, score, grouped)
  redis.call('ZADD', K_QUEUE, score, index)
  if not grouped then return end
  local gid = group_of(index)
  if gid then redis.call('ZADD', k_group_queue(gid), score, index) end
end

local function release_one(index, score, now)
  redis.call('ZADD', K_RELEASED, score, index)
  redis.call('ZADD', K_RELT, now, index)
end

-- Release up to `n` waiting rows to the broker, in dialing order. Returns their indexes.
-- A job with recipientHours takes them only from the groups whose hours are open now
-- (the heads of the open groups' queues, merged), so that rows waiting for their
-- recipients' morning never block the others.
local function release_rows(n, now)
  if n <= 0 then return {} end
  local out = {}
  if not is_grouped() then
    local popped = redis.call('ZPOPMIN', K_QUEUE, n)
    for i = 1, #popped, 2 do
      release_one(popped[i], popped[i + 1], now)
      out[#out + 1] = popped[i]
    end
    return out
  end
  local open = redis.call('HGETALL', K_GOPEN)
  local heads = {}
  for i = 1, #open, 2 do
    if tonumber(open[i + 1]) > now then
      local h = redis.call('ZRANGE', k_group_queue(open[i]), 0, 0, 'WITHSCORES')
      if h[1] then heads[open[i]] = {tonumber(h[2]), h[1]} end
    end
  end
  while #out < n do
    local best, best_score = nil, nil
    for gid, h in pairs(heads) do
      if best == nil or h[1] < best_score then best, best_score = gid, h[1] end
    end
    if best == nil then break end
    local index, gq = heads[best][2], k_group_queue(best)
    redis.call('ZREM', gq, index)
    redis.call('ZREM', K_QUEUE, index)
    release_one(index, best_score, now)
    out[#out + 1] = index
    local h = redis.call('ZRANGE', gq, 0, 0, 'WITHSCORES')
    if h[1] then heads[best] = {tonumber(h[2]), h[1]} else heads[best] = nil end
  end
  return out
end

-- Hold a row out of the queue until `due` (ms) for `why` (retryBackoff|frequencyCap);
-- the pump puts it back when it is due.
local function hold(index, due, why)
  redis.call('ZADD', K_HELD, due, index)
  redis.call('HSET', K_HOLDWHY, index, why)
end

-- Put the held rows that are due back among the waiting rows (at most `limit`).
-- Returns the earliest due time of the rows still held (ms), or nil.
local function unhold_due(now, limit)
  local due = redis.call('ZRANGEBYSCORE', K_HELD, '-inf', now, 'LIMIT', 0, limit)
  local grouped = #due > 0 and is_grouped()
  for _, index in ipairs(due) do
    redis.call('ZREM', K_HELD, index)
    redis.call('HDEL', K_HOLDWHY, index)
    requeue(index, tonumber(index), grouped)
  end
  local first = redis.call('ZRANGE', K_HELD, 0, 0, 'WITHSCORES')
  if first[1] then return tonumber(first[2]) end
  return nil
end

-- End a waiting row as expired (issue 17: its expiresAt or the job's rowTtlSeconds has
-- passed before it was dialed), with row.expired.
local function end_expired(job_id, index)
  redis.call('HSET', K_LAST, index, ':expired')
  redis.call('HINCRBY', K_JOB, 'finished', 1)
  redis.call('HINCRBY', K_JOB, 'out:expired', 1)
  redis.call('HINCRBY', K_STATS, 'queued', -1)
  emit({type = 'row.expired', jobId = job_id, rowId = job_id .. '.' .. index,
    to = 'expired', status = 'expired'}, '')
end

-- Expire the waiting (queued or held) rows whose time is up (at most `limit`), so that
-- they never take a slot. Returns how many ended, and the earliest expiry still ahead
-- (ms) or nil. A row released or dialing is left to its claim (which checks it too).
local function expire_due(job_id, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K_EXPIRY, '-inf', now, 'LIMIT', 0, limit)
  local grouped = #due > 0 and is_grouped()
  local ended = 0
  for _, index in ipairs(due) do
    redis.call('ZREM', K_EXPIRY, index)
    local gid = grouped and group_of(index) or nil
    if redis.call('ZREM', K_QUEUE, index) == 1 or redis.call('ZREM', K_HELD, index) == 1 then
      if gid then redis.call('ZREM', k_group_queue(gid), index) end
      redis.call('HDEL', K_HOLDWHY, index)
      end_expired(job_id, index)
      ended = ended + 1
    end
  end
  local first = redis.call('ZRANGE', K_EXPIRY, 0, 0, 'WITHSCORES')
  if first[1] then return ended, tonumber(first[2]) end
  return ended, nil
end

-- Rows the job may still release: its cap less rows released or holding a live lease.
local function credit(cap, now)
  return cap - redis.call('ZCARD', K_RELEASED) - purge(K_SEM, now)
end

-- Take back a claimed dial whose call was never placed (put_back.lua, predial.lua): its
-- row leaves the dialing rows, its slots (the job's, the workspace's, its number's) are
-- freed, its deadline member `deadline` and its record are dropped, and it no longer
-- counts among the job's dials, its recipient's frequency or the dials in progress.
-- Returns the dial's fields {status, index, rowId, fromNumberId, toNumber} as they
-- were; or nil and 'missing' (no record: only `deadline` is dropped) or 'ended' (no
-- longer live: nothing is touched).
local function unclaim(dial_id, deadline)
  local K_DIAL = k_dial(dial_id)
  local d = redis.call('HMGET', K_DIAL, 'status', 'index', 'rowId', 'fromNumberId', 'toNumber')
  if not d[1] then
    redis.call('ZREM', K_DEADLINES, deadline)
    return nil, 'missing'
  end
  local current = d[1]
  if current ~= 'queued' and current ~= 'ringing' and current ~= 'in-progress' then
    return nil, 'ended'
  end
  local index = d[2]
  if redis.call('HGET', K_DIALING, index) == dial_id then redis.call('HDEL', K_DIALING, index) end
  redis.call('ZREM', K_SEM, dial_id)
  redis.call('ZREM', K_WS_SEM, dial_id)
  if d[4] then redis.call('ZREM', k_number_sem(d[4]), dial_id) end
  redis.call('ZREM', K_DEADLINES, deadline)
  redis.call('ZREM', K_DIALS, dial_id)
  if d[5] then redis.call('ZREM', k_freq(d[5]), dial_id) end
  redis.call('DEL', K_DIAL)
  redis.call('HINCRBY', K_STATS, 'inProgress', -1)
  return d
end
