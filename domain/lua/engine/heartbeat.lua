-- heartbeat.lua: a worker process says it is alive, and learns how many are. Members
-- silent for longer than ARGV[2] are dropped. Redis's clock, so skewed hosts agree.
-- KEYS: KEYS[1] the worker index (ns:workers).
-- ARGV: ARGV[1] this process's id, ARGV[2] how long a silent process still counts (ms)
-- Returns (protocol.WorkersAlive): how many worker processes are alive.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
