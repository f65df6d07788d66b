-- take_wakeups.lua: hand the due job wake-ups to one caller. Each taken wake-up is
-- pushed back by ARGV[2] ms rather than removed, so that a caller that dies before
-- the pump runs costs a delay, not a stuck job; the pump sets the real next time.
-- KEYS: KEYS[1] the wake-up index.
-- ARGV: ARGV[1] how many at most, ARGV[2] push-back (ms)
-- Returns (protocol.Wakeups): the members ("<ws>|<job>") that were due.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), member)
end
return due
