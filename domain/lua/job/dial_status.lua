-- dial_status.lua: record a non-final status (ringing, in-progress) a provider reports
-- for a live dial, with its dial.status_changed event. A dial that ended is left alone.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] dial id, ARGV[3] the new status
-- Returns (protocol.LiveStatus): 1 if the status changed, 0 otherwise.
local rank = {queued = 1, ringing = 2, ['in-progress'] = 3}
local K_DIAL = k_dial(ARGV[2])
local current = redis.call('HGET', K_DIAL, 'status')
if not rank[current] or rank[ARGV[3]] <= rank[current] then return 0 end
redis.call('HSET', K_DIAL, 'status', ARGV[3])
emit({type = 'dial.status_changed', jobId = ARGV[1], dialId = ARGV[2], from = current,
  to = ARGV[3], status = ARGV[3], rowId = redis.call('HGET', K_DIAL, 'rowId')}, '')
return 1
