-- wh_record.lua: record one webhook delivery attempt and decide what follows: delivered
-- (a 2xx), retried after the next wait of the schedule, or failed after the last one.
-- An endpoint whose attempts have failed for `disable_after` straight (no success in
-- between) is disabled, with a webhook.disabled event in the workspace's log (and its
-- outbox, for the other endpoints).
-- KEYS: KEYS[1] the due index (K_WH_DUE), KEYS[2] the delivery record, KEYS[3] the endpoint's
-- attempts stream, KEYS[4] the endpoints hash (K_WH), KEYS[5] failing-since hash
-- (K_WH_FAIL), KEYS[6] the workspace log (K_WH_LOG), KEYS[7] the outbox (K_WH_OUT),
-- KEYS[8] the busy endpoints (K_WH_BUSY: this worker's hold on the endpoint is renewed),
-- KEYS[9] the endpoint's queue (k_wh_q)
-- ARGV: ARGV[1] the endpoint's member "<ws>|<endpoint id>", ARGV[2] delivery id,
-- ARGV[3] endpoint id, ARGV[4] '1' if
-- delivered, ARGV[5] HTTP status ('' if none), ARGV[6] latency (ms), ARGV[7] error
-- ('' if none), ARGV[8] '1' to fail it now (endpoint gone or disabled), ARGV[9]
-- disable after (ms), ARGV[10] attempts kept per endpoint, ARGV[11] retention (s) of
-- a failed delivery, ARGV[12] lease (ms), ARGV[13] retention (s) of a delivered one,
-- ARGV[14..] the retry waits (s)
-- Returns (protocol.parse_wh_record): 'delivered' | 'retrying' | 'failed' | 'stale'
-- (the delivery was no longer pending: another attempt ended it) | 'gone'.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local d = redis.call('HMGET', KEYS[2], 'status', 'attempts', 'type')
if not d[1] then
  redis.call('ZREM', KEYS[9], ARGV[2])
  return 'gone'
end
if d[1] ~= 'pending' then
  redis.call('ZREM', KEYS[9], ARGV[2])
  return 'stale'
end
local n = tonumber(d[2]) + 1
local ep, ok, final = ARGV[3], ARGV[4] == '1', ARGV[8] == '1'
local waits = #ARGV - 13
redis.call('ZADD', KEYS[8], 'XX', now + tonumber(ARGV[12]), ARGV[1])
local outcome, nxt = 'failed', ''
if ok then
  outcome = 'delivered'
  redis.call('HDEL', KEYS[5], ep)
elseif not final and n <= waits then
  outcome = 'retrying'
  nxt = now + tonumber(ARGV[13 + n]) * 1000
end
if outcome == 'retrying' then
  redis.call('ZADD', KEYS[9], nxt, ARGV[2])
  redis.call('ZADD', KEYS[1], 'LT', nxt, ARGV[1])
  redis.call('HSET', KEYS[2], 'attempts', n, 'next', nxt)
else
  redis.call('ZREM', KEYS[9], ARGV[2])
  redis.call('HSET', KEYS[2], 'attempts', n, 'status', outcome, 'next', '')
  redis.call('EXPIRE', KEYS[2], tonumber(outcome == 'delivered' and ARGV[13] or ARGV[11]))
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'd', ARGV[2], 't', d[3], 'n', n,
  'o', outcome, 'c', ARGV[5], 'l', ARGV[6], 'err', ARGV[7], 'next', nxt)
if not ok and not final then
  local since = redis.call('HGET', KEYS[5], ep)
  if not since then
    redis.call('HSET', KEYS[5], ep, now)
  elseif now - tonumber(since) >= tonumber(ARGV[9]) then
    local raw = redis.call('HGET', KEYS[4], ep)
    if raw then
      local rec = cjson.decode(raw)
      if rec.enabled then
        rec.enabled = false
        rec.disabledReason = 'every attempt failed for 5 days'
        redis.call('HSET', KEYS[4], ep, cjson.encode(rec))
        local body = cjson.encode({type = 'webhook.disabled', webhookId = ep,
          failingSince = tonumber(since), reason = rec.disabledReason})
        local id = redis.call('XADD', KEYS[6], 'MAXLEN', '~', 10000, '*', 'e', body)
        redis.call('XADD', KEYS[7], '*', 'j', '', 'i', id, 'e', body)
      end
    end
  end
end
return outcome
