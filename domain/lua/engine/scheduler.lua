-- scheduler.lua: one run of a job's scheduler ("the pump"). Records window changes
-- (job.window_opened / job.window_closed), recovers rows whose dial message was lost, puts held rows whose
-- retry backoff or frequency cap is over back in the queue, records which recipient
-- time-zone groups are inside their hours (jobs with recipientHours), ends the waiting
-- rows whose expiry has passed (row.expired, issue 17), releases as many
-- rows as the job's free capacity allows, and sets when the scheduler must next run.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] wake-up member, ARGV[2] job id, ARGV[3] config version the window was computed
-- for, ARGV[4] '1' if the window is open at ARGV[6], ARGV[5] when that changes (ms; 0 =
-- never), ARGV[6] the instant the window was computed for (ms, Redis time),
-- ARGV[7] cap, ARGV[8] longest sleep between runs (ms), ARGV[9] age after which a
-- released row whose message never arrived goes back to the queue (ms), then for each
-- recipient group: ARGV[10 + 3k] group id, ARGV[11 + 3k] until when its hours are open
-- (ms; 0 = closed now), ARGV[12 + 3k] when that next changes (ms; 0 = never)
-- Returns (protocol.SchedulerRun): {'missing'} | {'idle', status} | {'stale'} | {'recompute'} | {'closed'} |
--          {'complete'} | {'open', released row index...}
local member, job_id = ARGV[1], ARGV[2]
local is_open, change, computed_at = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local job = redis.call('HMGET', K_JOB, 'status', 'ver', 'window')
if not job[1] then
  redis.call('ZREM', K_WAKEUPS, member)
  return {'missing'}
end
if job[1] ~= 'ACTIVE' then
  redis.call('ZREM', K_WAKEUPS, member)
  return {'idle', job[1]}
end
if job[2] ~= ARGV[3] then return {'stale'} end
local now = now_ms()
if now < computed_at or (change > 0 and now >= change) then return {'recompute'} end

-- Rows released long ago whose message never claimed them go back to the queue; a
-- late message then finds nothing to claim (the claim needs the row released).
local stale = redis.call('ZRANGEBYSCORE', K_RELT, '-inf', now - tonumber(ARGV[9]))
for _, index in ipairs(stale) do
  local score = redis.call('ZSCORE', K_RELEASED, index)
  redis.call('ZREM', K_RELEASED, index)
  redis.call('ZREM', K_RELT, index)
  redis.call('ZREM', K_PACED, index)
  if score then requeue(index, score, is_grouped()) end
end
local held_next = unhold_due(now, 1000)
local expired, expiry_next = expire_due(job_id, now, 1000)
if expired > 0 and complete_if_done(job_id, member, now) then return {'complete'} end
if expiry_next and (held_next == nil or expiry_next < held_next) then held_next = expiry_next end

-- Recipient groups: record which are open (claims check it) and when the first group
-- that has rows waiting changes.
local group_change = nil
for k = 10, #ARGV, 3 do
  local gid, open_until, gchange = ARGV[k], tonumber(ARGV[k + 1]), tonumber(ARGV[k + 2])
  if open_until > 0 then
    redis.call('HSET', K_GOPEN, gid, string.format('%d', open_until))
  else
    redis.call('HDEL', K_GOPEN, gid)
  end
  if gchange > 0 and (group_change == nil or gchange < group_change)
      and redis.call('ZCARD', k_group_queue(gid)) > 0 then
    group_change = gchange
  end
end

if not is_open then
  if job[3] ~= 'closed' then
    redis.call('HSET', K_JOB, 'window', 'closed', 'windowUntil', 0)
    redis.call('HDEL', K_JOB, 'openedAt')
    local extra = ''
    if change > 0 then extra = '{"nextOpenAt":"' .. iso_ms(change) .. '"}' end
    emit({type = 'job.window_closed', jobId = job_id}, extra)
  end
  local wake_at = change
  if change > 0 then redis.call('HSET', K_JOB, 'nextOpenAt', string.format('%d', change)) end
  -- Rows expire while the window is closed too (so a job of only those can complete).
  if expiry_next and (wake_at == 0 or expiry_next < wake_at) then wake_at = expiry_next end
  if wake_at > 0 then
    redis.call('ZADD', K_WAKEUPS, math.max(wake_at, now), member)
  else
    redis.call('ZREM', K_WAKEUPS, member)
  end
  return {'closed'}
end

local until_ms = change
if until_ms == 0 then until_ms = 9007199254740991 end
if job[3] ~= 'open' then
  -- When the window opened: the instant recorded while it was closed, or now when this
  -- is the first look (a job started in an open window). The first claim reads it.
  local opened = tonumber(redis.call('HGET', K_JOB, 'nextOpenAt') or '')
  if not opened or opened > now then opened = now end
  redis.call('HSET', K_JOB, 'openedAt', string.format('%d', opened))
  local extra = ''
  if change > 0 then extra = '{"closesAt":"' .. iso_ms(change) .. '"}' end
  emit({type = 'job.window_opened', jobId = job_id}, extra)
end
redis.call('HSET', K_JOB, 'window', 'open', 'windowUntil', string.format('%d', until_ms))
if complete_if_done(job_id, member, now) then return {'complete'} end
local out = {'open'}
for _, index in ipairs(release_rows(credit(tonumber(ARGV[7]), now), now)) do
  out[#out + 1] = index
end
local next_run = now + tonumber(ARGV[8])
if change > 0 and change < next_run then next_run = change end
if group_change and group_change < next_run then next_run = group_change end
if held_next and held_next < next_run then next_run = math.max(held_next, now) end
redis.call('ZADD', K_WAKEUPS, next_run, member)
return out
