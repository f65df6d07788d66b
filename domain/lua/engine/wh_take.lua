-- wh_take.lua: take the due deliveries of some endpoints, each under a lease: its score
-- in the endpoint's queue moves to now + lease, so a worker that dies mid-attempt loses
-- nothing (the delivery comes due again when the lease lapses and is attempted again,
-- with the same webhook-id); wh_record.lua sets the real next time after the answer.
-- One worker at a time sends an endpoint's deliveries (so they go in event order):
-- taking some makes the endpoint this worker's until the lease (wh_record.lua renews
-- it with each answer; wh_free.lua frees it when the worker has sent what it took). An
-- endpoint held by another worker is looked at again when its hold ends, and waits
-- in its own queue: it never keeps the other endpoints' deliveries from being taken.
-- KEYS: KEYS[1] the due index (K_WH_DUE), KEYS[2] the busy endpoints (K_WH_BUSY), then
-- one queue per endpoint (k_wh_q)
-- ARGV: ARGV[1] lease (ms), ARGV[2] the most to take per endpoint, ARGV[3] the most in
-- all, then one member "<ws>|<endpoint id>" per endpoint (the due index's first ones)
-- Returns (protocol.parse_wh_take): the deliveries taken, "<ws>|<delivery id>", in
-- each endpoint's order.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = now + tonumber(ARGV[1])
local per, total = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  if #out >= total then break end
  local member, queue = ARGV[i], KEYS[i - 1]
  local due_at = redis.call('ZSCORE', KEYS[1], member)
  local held = redis.call('ZSCORE', KEYS[2], member)
  if due_at and tonumber(due_at) <= now then
    if held and tonumber(held) > now then
      redis.call('ZADD', KEYS[1], held, member)
    else
      local ws = string.match(member, '^([^|]*)|')
      local due = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', 0,
        math.min(per, total - #out))
      if #due > 0 then redis.call('ZADD', KEYS[2], lease, member) end
      for _, id in ipairs(due) do
        redis.call('ZADD', queue, 'XX', lease, id)
        out[#out + 1] = ws .. '|' .. id
      end
      local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
      if head[1] then
        redis.call('ZADD', KEYS[1], head[2], member)
      else
        redis.call('ZREM', KEYS[1], member)
      end
    end
  end
end
return out
