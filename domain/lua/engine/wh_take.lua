-- wh_take.lua: take the webhook deliveries that are due, each under a lease: its due
-- time moves to now + lease, so a worker that dies mid-attempt loses nothing (the
-- delivery comes due again when the lease lapses and is attempted again, with the same
-- webhook-id); wh_record.lua sets the real next time once the attempt has an answer.
-- KEYS: KEYS[1] the due index (K_WH_DUE)
-- ARGV: ARGV[1] lease (ms), ARGV[2] the most to take
-- Returns (protocol.parse_wh_take): the members taken, "<ws>|<delivery id>", by due time.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), member)
end
return due
