-- finish_dial.lua: end a dial with its status, free its slots, record dial.finished,
-- schedule the row's next attempt when the job's retry policy asks for one
-- (row.retry_scheduled; the row is held until its backoff is over), suppress the number
-- when the provider reports opted-out (suppression.added), complete the job when
-- nothing is left, and wake whoever waits for the room. Counts the dial in its pool
-- number's health (per hour: dials, answered, voicemail; domain/health.py) and, when the
-- workspace sets quarantineBelowAnswerRate, rests for a day a number whose answer rate
-- over the last 24 h (at least 20 dials) is under it (number.quarantined).
-- Idempotent: a dial that already ended is left as it is ('noop'), so a provider's
-- second callback, a late simulated timer and the reaper can all race safely.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job wake-up member, ARGV[2] job id, ARGV[3] dial id, ARGV[4] status,
-- ARGV[5] reason ('' for none), ARGV[6] '1' to end it only if its lease has expired
-- (the reaper; the reason is then lease_expired, or max_call_duration for a call the
-- provider held), ARGV[7] deadline member, ARGV[8] '1' to release rows for the freed slot
-- right away (the worker's fast path), ARGV[9] provider details (JSON object text or ''),
-- ARGV[10] '1' to also push the released rows onto the refill list (K_REFILLS,
-- "<ws>|<job>|<row>", RPUSH) that idle workers wait on (worker/engine/refills.py): the
-- API's callback path, the end and its refill in one step; '' not to
-- Returns (protocol.FinishResult): {'missing'} | {'noop', status} | {'alive'} |
--          {'finished', job status after, startedAt, endedAt, reason, released row index...}
local member, job_id, dial_id, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local K_DIAL = k_dial(dial_id)
local d = redis.call('HMGET', K_DIAL, 'status', 'index', 'leaseUntil', 'rowId', 'fromNumber',
  'attempt', 'owner', 'startedAt', 'fromNumberId', 'toNumber')
if not d[1] then
  redis.call('ZREM', K_DEADLINES, ARGV[7])
  return {'missing'}
end
local current = d[1]
if current ~= 'queued' and current ~= 'ringing' and current ~= 'in-progress' then
  return {'noop', current}
end
local now = now_ms()
local reason = ARGV[5]
if ARGV[6] == '1' then
  if tonumber(d[3]) > now then return {'alive'} end
  if d[7] == 'provider' then reason = 'max_call_duration' else reason = 'lease_expired' end
end
redis.call('HSET', K_DIAL, 'status', status, 'endedAt', now)
if reason ~= '' then redis.call('HSET', K_DIAL, 'reason', reason) end
if redis.call('HGET', K_DIALING, d[2]) == dial_id then redis.call('HDEL', K_DIALING, d[2]) end
redis.call('ZREM', K_SEM, dial_id)
redis.call('ZREM', K_WS_SEM, dial_id)
if d[9] then redis.call('ZREM', k_number_sem(d[9]), dial_id) end
redis.call('ZREM', K_DEADLINES, ARGV[7])
redis.call('HINCRBY', K_JOB, 'st:' .. status, 1)
redis.call('HINCRBY', K_STATS, 'inProgress', -1)
redis.call('HINCRBY', K_STATS, 'finished:' .. status, 1)
-- Number health (issue 19).
if d[9] then
  local hk = k_number_health(d[9])
  local hour = math.floor(now / 3600000)
  if redis.call('HINCRBY', hk, hour .. ':d', 1) == 1 then
    for _, field in ipairs(redis.call('HKEYS', hk)) do
      local h = tonumber(string.match(field, '^(%d+):'))
      if h and h <= hour - 24 then redis.call('HDEL', hk, field) end
    end
  end
  if status == 'completed' then redis.call('HINCRBY', hk, hour .. ':a', 1) end
  if status == 'voicemail' then redis.call('HINCRBY', hk, hour .. ':v', 1) end
  redis.call('PEXPIRE', hk, 25 * 3600000)
  local below = tonumber(redis.call('HGET', K_WS, 'quarantineBelowAnswerRate') or '')
  if below then
    local names = {}
    for h = hour - 23, hour do
      names[#names + 1] = h .. ':d'
      names[#names + 1] = h .. ':a'
    end
    local counts = redis.call('HMGET', hk, (table.unpack or unpack)(names))
    local dials, answered = 0, 0
    for i = 1, #counts, 2 do
      dials = dials + (tonumber(counts[i]) or 0)
      answered = answered + (tonumber(counts[i + 1]) or 0)
    end
    local raw = redis.call('HGET', K_NUMBERS, d[9])
    if raw and dials >= 20 and answered / dials < below then
      local number = cjson.decode(raw)
      local rest = tonumber(number.rest or 0) or 0
      if rest >= 0 and rest <= now then
        number.rest = now + 86400000
        redis.call('HSET', K_NUMBERS, d[9], cjson.encode(number))
        emit({type = 'number.quarantined', jobId = job_id, numberId = d[9],
          number = number.number, dials = dials, answered = answered,
          answerRate = answered / dials, below = below, ['until'] = iso_ms(number.rest)}, '')
      end
    end
  end
end
local attempt = tonumber(d[6])
local fields = {type = 'dial.finished', jobId = job_id, dialId = dial_id, rowId = d[4],
  from = current, to = status, status = status, fromNumber = d[5], attempt = attempt}
if reason ~= '' then fields.reason = reason end
emit(fields, ARGV[9], now)

if status == 'opted-out' and d[10] then
  if redis.call('ZADD', K_SUPPRESSED, 'NX', 0, d[10]) == 1 then
    redis.call('HSET', K_SUPPINFO, d[10], cjson.encode({reason = 'opted out (reported by the provider)',
      source = 'opted-out', createdAt = now, jobId = job_id, dialId = dial_id}))
    emit({type = 'suppression.added', jobId = job_id, dialId = dial_id, rowId = d[4],
      toNumber = d[10], source = 'opted-out'}, '')
  end
end

-- The row's next attempt, if the job's retry policy asks for one.
local job = redis.call('HMGET', K_JOB, 'status', 'window', 'windowUntil', 'config')
local config = cjson.decode(job[4])
local retry = config.retry
local retrying = false
-- A dial the engine ended because its outcome is unknown (its worker died, or the
-- provider never reported its end) may have reached the person: never retried.
-- So is a carrier call whose placement could not be confirmed (placement_unknown).
local unknown = reason == 'lease_expired' or reason == 'lease_lost'
  or reason == 'max_call_duration' or reason == 'placement_unknown'
if type(retry) == 'table' and job[1] ~= 'CANCELLED' and not unknown
    and attempt < tonumber(retry.maxAttempts) then
  for _, on in ipairs(retry.on) do
    if on == status then retrying = true end
  end
end
if retrying then
  local backoff = retry.backoffSeconds
  local wait_s = tonumber(backoff[math.min(attempt, #backoff)] or 0)
  local due = now + wait_s * 1000
  redis.call('HSET', K_ATT, d[2], attempt)
  hold(d[2], due, 'retryBackoff')
  redis.call('HINCRBY', K_STATS, 'queued', 1)
  emit({type = 'row.retry_scheduled', jobId = job_id, rowId = d[4], dialId = dial_id,
    status = status, attempt = attempt + 1, retryAt = iso_ms(due)}, '')
  wake(member, due)
else
  redis.call('HINCRBY', K_JOB, 'finished', 1)
  redis.call('HINCRBY', K_JOB, 'out:' .. status, 1)
end
-- Room freed in the workspace and on a number: wake jobs that were refused for it.
local waiting = redis.call('SPOP', K_WAITING, 20)
for _, other in ipairs(waiting) do wake(other, now) end
if complete_if_done(job_id, member, now) then return {'finished', 'COMPLETE', d[8], now, reason} end
local out = {'finished', job[1], d[8], now, reason}
if job[1] ~= 'ACTIVE' then return out end
if ARGV[8] == '1' and job[2] == 'open' and now < tonumber(job[3] or 0) then
  local cap = config.maxConcurrentDials
  for _, index in ipairs(release_rows(credit(cap, now), now)) do out[#out + 1] = index end
  if ARGV[10] == '1' and #out > 5 then
    for i = 6, #out do redis.call('RPUSH', K_REFILLS, member .. '|' .. out[i]) end
  end
else
  wake(member, now)
end
return out
