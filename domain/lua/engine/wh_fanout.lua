-- wh_fanout.lua: turn a workspace's webhook outbox entries into deliveries, one per
-- matching endpoint, and advance the workspace's fan-out cursor, all or nothing.
-- A compare-and-set on the cursor: a second worker fanning out the same entries finds
-- the cursor moved and writes nothing, so each (event, endpoint) becomes one delivery.
-- Each delivery joins its endpoint's queue (due now; ties in event order, the ids are
-- padded) and the endpoint is due in the due index no later than now.
-- KEYS: KEYS[1] the fan-out cursor (K_WH_CUR), KEYS[2] the due index (K_WH_DUE),
-- KEYS[3] the outbox stream (K_WH_OUT), then two per delivery: its record, its
-- endpoint's queue.
-- ARGV: ARGV[1] the cursor the caller read ('' = none), ARGV[2] the new cursor (last
-- outbox id read), ARGV[3] the workspace id, then six values per delivery: delivery id,
-- endpoint id, job id, event id, event type, body (the JSON the endpoint receives).
-- Returns (protocol.parse_wh_fanout): deliveries written, or -1 if the cursor moved.
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = 0
for i = 4, #ARGV, 6 do
  local key, queue = KEYS[4 + n * 2], KEYS[5 + n * 2]
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'ep', ARGV[i + 1], 'job', ARGV[i + 2], 'event', ARGV[i + 3],
      'type', ARGV[i + 4], 'body', ARGV[i + 5], 'status', 'pending', 'attempts', 0,
      'createdAt', now, 'next', now)
    redis.call('ZADD', queue, now, ARGV[i])
    redis.call('ZADD', KEYS[2], 'LT', now, ARGV[3] .. '|' .. ARGV[i + 1])
  end
  n = n + 1
end
redis.call('SET', KEYS[1], ARGV[2])
-- What is fanned out is copied into the deliveries: the outbox keeps only the rest.
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[2])
return n
