-- wh_free.lua: a worker has sent every delivery it took for an endpoint: free the
-- endpoint for any worker, due again at its queue's first delivery (if any).
-- KEYS: KEYS[1] the due index (K_WH_DUE), KEYS[2] the busy endpoints (K_WH_BUSY),
-- KEYS[3] the endpoint's queue (k_wh_q)
-- ARGV: ARGV[1] the endpoint's member "<ws>|<endpoint id>"
-- Returns (protocol.parse_wh_free): 1 if the endpoint still has deliveries, else 0.
redis.call('ZREM', KEYS[2], ARGV[1])
local head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if not head[1] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], head[2], ARGV[1])
return 1
