-- wh_take.lua: take the webhook deliveries that are due, each under a lease: its due
-- time moves to now + lease, so a worker that dies mid-attempt loses nothing (the
-- delivery comes due again when the lease lapses and is attempted again, with the same
-- webhook-id); wh_record.lua sets the real next time once the attempt has an answer.
-- One worker at a time sends an endpoint's deliveries (so they go in event order): a
-- delivery is taken only if its endpoint is free or already this call's, and taking it
-- makes the endpoint this worker's until the lease (wh_record.lua renews it with each
-- answer; the worker frees it when it has sent all it took).
-- KEYS: KEYS[1] the due index (K_WH_DUE), KEYS[2] the busy endpoints (K_WH_BUSY)
-- ARGV: ARGV[1] lease (ms), ARGV[2] the most to take
-- Returns (protocol.parse_wh_take): the members taken, "<ws>|<delivery id>", by due time.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = now + tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
-- Look further than the limit: deliveries of endpoints busy elsewhere are skipped.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit * 4)
local mine, out = {}, {}
for _, member in ipairs(due) do
  if #out >= limit then break end
  local ws, ep = string.match(member, '^([^|]*)|msg_%d+_(.*)$')
  local owner = (ws or '') .. '|' .. (ep or '')
  if mine[owner] == nil then
    local until_ms = redis.call('ZSCORE', KEYS[2], owner)
    mine[owner] = (not until_ms) or tonumber(until_ms) <= now
    if mine[owner] then redis.call('ZADD', KEYS[2], lease, owner) end
  end
  if mine[owner] then
    redis.call('ZADD', KEYS[1], 'XX', lease, member)
    out[#out + 1] = member
  end
end
return out
