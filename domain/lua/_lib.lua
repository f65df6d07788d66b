-- _lib.lua: helpers prepended to every state script by domain/scripts.py.
-- Job scripts receive the job's keys in the order of Keys.job_keys():
--   KEYS[1] job hash, KEYS[2] rows, KEYS[3] queue, KEYS[4] released,
--   KEYS[5] cancelled, KEYS[6] dialing, KEYS[7] events, KEYS[8] dials
-- followed by script-specific keys.
local K_JOB, K_ROWS, K_QUEUE, K_RELEASED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_CANCELLED, K_DIALING, K_EVENTS, K_DIALS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]

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
