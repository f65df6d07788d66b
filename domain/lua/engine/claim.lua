-- claim.lua: claim a released row for one dial attempt and take its three leases
-- (job cap, workspace dial limit, one pool number), all or nothing, in one step.
-- The row moves released -> dialing with a fresh dial id, the dial is recorded and
-- dial.started is appended. A second delivery of the same message finds the row no
-- longer released and claims nothing. When the job is not ACTIVE, its window or the
-- recipient's hours are closed, or a limit is full, the row goes back to the queue for
-- the pump. A suppressed number ends the row (outcome suppressed, row.suppressed); a
-- number called maxCallsPerNumberPerDay times in the last 24 h holds the row until the
-- oldest of those calls is a day old (row.frequency_capped).
-- The pool number is the least busy one with room; ties rotate (a per-job counter).
-- callerId (ARGV[12]) 'local' prefers, among the numbers with room, those of the
-- recipient's area code, then of its state, then any; 'sticky' reuses the number the
-- workspace last used for this recipient (K_STICKY) while it is in the pool, waiting
-- for it when it is full (not when it rests: a resting number, `rest` in its record,
-- by hand or quarantined, is never chosen). The dial and dial.started name the rule (callerIdRule), and
-- carry the row's consent. A job with callingRules caps the calls to a number of a state
-- whose rule has callsPer24h (the group's perDay) like maxCallsPerNumberPerDay
-- (the stricter wins; held as 'callingRules' when the state's cap is the one).
-- A disabled workspace (the operator API) counts as full: its rows wait.
-- Pacing (the workspace's maxDialsPerSecond, ARGV[11] for all workspaces together) is
-- checked last, by GCRA on Redis TIME in microseconds (domain/pacing.py explains the
-- interval and tolerance): when a start now would not conform, the row stays released
-- (its release time refreshed, so it is not taken back as lost), is listed in :paced,
-- and the claim answers how long until a start conforms, for the worker to try again
-- then. dial.started gets the claim's instant as its stream id, so event times are the
-- instants the pacing counted.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] wake-up member, ARGV[2] job id, ARGV[3] config version, ARGV[4] row index,
-- ARGV[5] dial id with '{attempt}' where the attempt goes, ARGV[6] lease (ms),
-- ARGV[7] the job's cap, ARGV[8] pool number ids joined by ',', ARGV[9] workspace id,
-- ARGV[10] the dial's deadline member, with '{attempt}' as in ARGV[5],
-- ARGV[11] dial starts a second allowed across all workspaces ('' or '0' = no limit),
-- ARGV[12] callerId ('spread' | 'local' | 'sticky'; '' = spread), ARGV[13] each pool
-- number's 'areaCode:state' ('' parts when not US) joined by ',', in ARGV[8]'s order
-- (callerId local), ARGV[14] 'areaCode:state' of every area code of those states
-- Returns (protocol.Claimed | protocol.ClaimRefused): {'gone'} | {'stale'} | {'paused'} | {'closed'} | {'hours'} | {'suppressed'} | {'expired'} |
--          {'capped'} | {'full', 'job'|'workspace'|'number'}
--        | {'paced', 'workspace'|'global', ms until a start conforms}
--        | {'ok', fromNumber, fromNumberId, row JSON, startedAt, openedAt of the window if
--          this is its first dial (else ''), dial id, attempt}
local DAY_MS = 86400000
local member, job_id, index = ARGV[1], ARGV[2], ARGV[4]
local job = redis.call('HMGET', K_JOB, 'status', 'ver', 'window', 'windowUntil', 'grouped')
if not job[1] then return {'gone'} end
local score = redis.call('ZSCORE', K_RELEASED, index)
if not score then return {'gone'} end
if job[2] ~= ARGV[3] then return {'stale'} end
local clock = redis.call('TIME')
local now_us = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local now = math.floor(now_us / 1000)

local function unrelease()
  redis.call('ZREM', K_RELEASED, index)
  redis.call('ZREM', K_RELT, index)
  redis.call('ZREM', K_PACED, index)
end
local function back()
  unrelease()
  requeue(index, score, job[5] == '1')
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

local row = redis.call('HGET', K_ROWS, index)
if not row then
  -- Never expected (rows live as long as their job); refuse before writing anything.
  return redis.error_reply('row ' .. index .. ' of ' .. job_id .. ' has no data')
end
local data = cjson.decode(row)
local to_number = data[1]
local row_id = job_id .. '.' .. index
local extra = data[4]
if type(extra) ~= 'table' then extra = {} end
-- A row whose expiry (expiresAt, rowTtlSeconds) has passed ends expired, undialed.
if tonumber(extra.expiresAt) and now >= tonumber(extra.expiresAt) then
  unrelease()
  redis.call('ZREM', K_EXPIRY, index)
  end_expired(job_id, index)
  if not complete_if_done(job_id, member, now) then wake(member, now) end
  return {'expired'}
end
if job[5] == '1' then
  local open_until = tonumber(redis.call('HGET', K_GOPEN, data[3]) or 0)
  if now >= open_until then
    back()
    wake(member, now)
    return {'hours'}
  end
end

if redis.call('ZSCORE', K_SUPPRESSED, to_number) then
  unrelease()
  redis.call('HSET', K_LAST, index, ':suppressed')
  redis.call('HINCRBY', K_JOB, 'finished', 1)
  redis.call('HINCRBY', K_JOB, 'out:suppressed', 1)
  redis.call('HINCRBY', K_STATS, 'queued', -1)
  emit({type = 'row.suppressed', jobId = job_id, rowId = row_id, toNumber = to_number,
    to = 'suppressed', status = 'suppressed'}, '')
  if not complete_if_done(job_id, member, now) then wake(member, now) end
  return {'suppressed'}
end

local ws = redis.call('HMGET', K_WS, 'dialLimit', 'maxCallsPerNumberPerDay', 'maxDialsPerSecond',
  'disabled', 'reservedInboundDials')
local per_day = tonumber(ws[2] or '')
local cap_rule = nil
if job[5] == '1' then
  local graw = redis.call('HGET', K_GROUPS, data[3])
  local group = graw and cjson.decode(graw) or {}
  if type(group.perDay) == 'number' and (not per_day or group.perDay < per_day) then
    per_day = group.perDay
    cap_rule = 'us-tcpa ' .. tostring(group.state)
  end
end
local freq_key = nil
if per_day then
  freq_key = k_freq(to_number)
  redis.call('ZREMRANGEBYSCORE', freq_key, '-inf', now - DAY_MS)
  local calls = redis.call('ZCARD', freq_key)
  if calls >= per_day then
    -- Room again when all but per_day - 1 of these calls are over a day old.
    local nth = redis.call('ZRANGE', freq_key, calls - per_day, calls - per_day, 'WITHSCORES')
    local due = tonumber(nth[2]) + DAY_MS
    unrelease()
    hold(index, due, cap_rule and 'callingRules' or 'frequencyCap')
    emit({type = 'row.frequency_capped', jobId = job_id, rowId = row_id,
      toNumber = to_number, callsInLastDay = calls, retryAt = iso_ms(due), rule = cap_rule}, '')
    wake(member, now)
    return {'capped'}
  end
end

if purge(K_SEM, now) >= tonumber(ARGV[7]) then
  back()
  return {'full', 'job'}
end
-- reservedInboundDials: outbound jobs together take at most dialLimit - reserved slots.
local outbound = tonumber(ws[1] or 0) - (tonumber(ws[5] or '') or 0)
if ws[4] == '1' or purge(K_WS_SEM, now) >= outbound then
  back()
  redis.call('SADD', K_WAITING, member)
  wake(member, now + 2000)
  return {'full', 'workspace'}
end

local ids = {}
for id in string.gmatch(ARGV[8], '[^,]+') do ids[#ids + 1] = id end
local n = #ids
local caller_id = ARGV[12] or ''
local rule_used = 'spread'
local turn = redis.call('HINCRBY', K_JOB, 'rr', 1)
local best, best_count, best_number = nil, nil, nil
local resting, rest_ends = 0, now + 60000
local function room(i)
  local raw = redis.call('HGET', K_NUMBERS, ids[i])
  if not raw then return nil end
  local number = cjson.decode(raw)
  local rest = tonumber(number.rest or 0) or 0
  if rest < 0 or rest > now then
    resting = resting + 1
    if rest > 0 then rest_ends = math.min(rest_ends, rest) end
    return nil, 'rest'
  end
  if rest > 0 then
    -- A quarantine's day is over: the number is back (number.restored).
    number.rest = nil
    redis.call('HSET', K_NUMBERS, ids[i], cjson.encode(number))
    emit({type = 'number.restored', jobId = job_id, numberId = ids[i],
      number = number.number}, '')
  end
  local busy = purge(k_number_sem(ids[i]), now)
  if busy < tonumber(number.max) then return busy, number.number end
  return nil
end
local sticky = nil
if caller_id == 'sticky' then
  sticky = redis.call('HGET', K_STICKY, to_number)
  for i = 1, n do
    if ids[i] == sticky then
      local busy, number = room(i)
      if not busy and number ~= 'rest' then
        back()
        redis.call('SADD', K_WAITING, member)
        wake(member, now + 2000)
        return {'full', 'number'}
      end
      if busy then best, best_count, best_number, rule_used = i, busy, number, 'sticky' end
    end
  end
end
if best == nil then
  resting, rest_ends = 0, now + 60000
  local pool_npa, pool_state, npa_state = {}, {}, {}
  local to_npa, to_state = nil, nil
  if caller_id == 'local' then
    local k = 0
    for entry in string.gmatch(ARGV[13] or '', '[^,]+') do
      k = k + 1
      local npa, st = string.match(entry, '^(%d*):(%a*)$')
      if npa and ids[k] then pool_npa[ids[k]], pool_state[ids[k]] = npa, st end
    end
    for entry in string.gmatch(ARGV[14] or '', '[^,]+') do
      local npa, st = string.match(entry, '^(%d+):(%a+)$')
      if npa then npa_state[npa] = st end
    end
    to_npa = string.match(to_number, '^%+1(%d%d%d)')
    to_state = to_npa and npa_state[to_npa]
  end
  -- local: 1 = the recipient's area code, 2 = its state, 3 = any (spread: all 3)
  local function tier(id)
    if to_npa and pool_npa[id] == to_npa then return 1 end
    if to_state and to_state ~= '' and pool_state[id] == to_state then return 2 end
    return 3
  end
  local best_tier = nil
  for k = 0, n - 1 do
    local i = ((turn + k) % n) + 1
    local busy, number = room(i)
    if busy then
      local t = tier(ids[i])
      if best == nil or t < best_tier or (t == best_tier and busy < best_count) then
        best, best_count, best_number, best_tier = i, busy, number, t
      end
    end
  end
  if best ~= nil and caller_id == 'local' then
    rule_used = ({'local:areaCode', 'local:state', 'local:spread'})[best_tier]
  elseif best ~= nil and caller_id == 'sticky' then
    rule_used = 'sticky:new'
  end
end
if best == nil then
  back()
  redis.call('SADD', K_WAITING, member)
  -- The whole pool rests: look again when a quarantine ends (or in a minute: a number
  -- restored by hand), not every 2 s for a day.
  wake(member, resting >= n and rest_ends or now + 2000)
  return {'full', 'number'}
end

-- Pacing (GCRA, as domain/pacing.py): each limit's key holds the theoretical arrival
-- time (µs) of its next start; a start conforms when now >= TAT - tolerance.
local SECOND_US, TOLERANCE_US = 1000000, 20000
local paces = {}
local function pace(key, per_second, which)
  if not per_second or per_second <= 0 then return end
  local interval = math.ceil((SECOND_US + TOLERANCE_US) / per_second)
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now_us)
  paces[#paces + 1] = {key, tat + interval, which, tat - (per_second * interval - SECOND_US)}
end
pace(K_WS_PACE, tonumber(ws[3] or ''), 'workspace')
pace(K_PACE, tonumber(ARGV[11] or ''), 'global')
local wait_us, wait_for = 0, nil
for _, p in ipairs(paces) do
  if p[4] - now_us > wait_us then wait_us, wait_for = p[4] - now_us, p[3] end
end
if wait_for then
  redis.call('ZADD', K_RELT, now, index)
  redis.call('ZADD', K_PACED, now, index)
  return {'paced', wait_for, math.ceil(wait_us / 1000)}
end
for _, p in ipairs(paces) do
  redis.call('SET', p[1], string.format('%d', p[2]), 'PX', math.ceil((p[2] - now_us) / 1000) + 1)
end

local attempt = tonumber(redis.call('HGET', K_ATT, index) or 0) + 1
local dial_id = string.gsub(ARGV[5], '{attempt}', tostring(attempt))
local k_this_dial = k_dial(dial_id)
local expiry = now + tonumber(ARGV[6])
redis.call('ZADD', K_SEM, expiry, dial_id)
redis.call('ZADD', K_WS_SEM, expiry, dial_id)
redis.call('ZADD', k_number_sem(ids[best]), expiry, dial_id)
redis.call('ZADD', K_DEADLINES, expiry, (string.gsub(ARGV[10], '{attempt}', tostring(attempt))))
unrelease()
redis.call('HSET', K_DIALING, index, dial_id)
redis.call('HSET', K_LAST, index, dial_id)
redis.call('HINCRBY', K_STATS, 'queued', -1)
redis.call('HINCRBY', K_STATS, 'inProgress', 1)
redis.call('ZADD', K_DIALS, redis.call('HINCRBY', K_JOB, 'dialseq', 1), dial_id)
if freq_key then
  redis.call('ZADD', freq_key, now, dial_id)
  redis.call('PEXPIRE', freq_key, DAY_MS)
end
redis.call('HSET', k_this_dial, 'dialId', dial_id, 'jobId', job_id, 'wsId', ARGV[9],
  'rowId', row_id, 'index', index, 'toNumber', to_number, 'fromNumber', best_number,
  'fromNumberId', ids[best], 'status', 'in-progress', 'startedAt', now,
  'attempt', attempt, 'leaseUntil', expiry, 'owner', 'worker', 'callerIdRule', rule_used)
if extra.consent then redis.call('HSET', k_this_dial, 'consent', cjson.encode(extra.consent)) end
-- A row's own agent (issue 17: row field callAgentId) is shown with its dials.
if type(extra.callAgentId) == 'string' then
  redis.call('HSET', k_this_dial, 'callAgentId', extra.callAgentId)
end
if caller_id == 'sticky' and sticky ~= ids[best] then
  redis.call('HSET', K_STICKY, to_number, ids[best])
end
emit({type = 'dial.started', jobId = job_id, dialId = dial_id, rowId = row_id,
  to = 'in-progress', fromNumber = best_number, toNumber = to_number,
  attempt = attempt, callerIdRule = rule_used, consent = extra.consent}, '', now)
local opened = redis.call('HGET', K_JOB, 'openedAt')
if opened then redis.call('HDEL', K_JOB, 'openedAt') end
return {'ok', best_number, ids[best], row, now, opened or '', dial_id, attempt}
