-- dial_status.lua: record a non-final status (ringing, in-progress) a provider reports
-- for a live dial, with its dial.status_changed event. A dial that ended is left alone.
-- A status only moves a dial forward (queued < ringing < in-progress): a repeated or
-- late callback changes nothing. Generic providers compare with the dial's status (a
-- claimed dial is in-progress already); carriers (ARGV[4] = '1') report their whole
-- progress from queued on, so theirs is compared with the furthest status they reported
-- (the dial's 'progress' field), not with the status the claim gave.
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] job id, ARGV[2] dial id, ARGV[3] the new status, ARGV[4] '1' for a
-- carrier's report ('' or absent otherwise)
-- Returns (protocol.LiveStatus): 1 if the status changed, 0 otherwise.
local rank = {queued = 1, ringing = 2, ['in-progress'] = 3}
local K_DIAL = k_dial(ARGV[2])
local current = redis.call('HGET', K_DIAL, 'status')
if not rank[current] then return 0 end
if ARGV[4] == '1' then
  local progress = tonumber(redis.call('HGET', K_DIAL, 'progress') or 0)
  if rank[ARGV[3]] <= progress then return 0 end
  redis.call('HSET', K_DIAL, 'progress', rank[ARGV[3]])
  if current == ARGV[3] then return 0 end
elseif rank[ARGV[3]] <= rank[current] then
  return 0
end
redis.call('HSET', K_DIAL, 'status', ARGV[3])
emit({type = 'dial.status_changed', jobId = ARGV[1], dialId = ARGV[2], from = current,
  to = ARGV[3], status = ARGV[3], rowId = redis.call('HGET', K_DIAL, 'rowId')}, '')
return 1
