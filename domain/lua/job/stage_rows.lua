-- stage_rows.lua: stage one chunk of an append's rows (issue 17), checking each row's
-- externalId and toNumber against the job and against the rows staged before it.
-- Nothing here is visible to the job: the staged keys expire unless commit_rows.lua
-- takes them in, so an upload that is interrupted adds nothing.
-- A row whose externalId the job (or this upload) already has is skipped (a duplicate).
-- A toNumber the job or the upload already has is refused unless both rows carry
-- externalIds (nums: number -> 'x' when every row with it has one, '' otherwise).
-- uses: _lib.lua
-- KEYS: the job script keys (see _lib.lua).
-- ARGV: ARGV[1] upload id, ARGV[2] staging TTL (s), ARGV[3] first free staging slot, then per
-- row 4 values: position in the upload, toNumber, externalId ('' = none), stored row JSON
-- Returns (protocol_rows.Staged): {rows staged, duplicates, then per refused row: position,
-- 'job' | 'upload', the position it repeats (-1 for a row of the job)}
local up = ARGV[1]
local ttl = tonumber(ARGV[2])
local slot = tonumber(ARGV[3])
local k_rows, k_ext, k_nums = k_up_rows(up), k_up_ext(up), k_up_nums(up)
local staged, dups, refused = 0, 0, {}
for i = 4, #ARGV, 4 do
  local pos, number, ext, row = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if ext ~= '' and (redis.call('HEXISTS', K_EXT, ext) == 1
      or redis.call('HEXISTS', k_ext, ext) == 1) then
    dups = dups + 1
  else
    local in_job = redis.call('HGET', K_NUMS, number)
    local in_up = redis.call('HGET', k_nums, number)
    local clash = nil
    if in_job and (ext == '' or in_job == '') then
      clash = {pos, 'job', -1}
    elseif in_up then
      local first = cjson.decode(in_up)
      if ext == '' or first[2] == '' then clash = {pos, 'upload', first[1]} end
    end
    if clash then
      for _, v in ipairs(clash) do refused[#refused + 1] = v end
    else
      if not in_up then
        redis.call('HSET', k_nums, number, cjson.encode({tonumber(pos), ext}))
      elseif ext == '' then
        redis.call('HSET', k_nums, number, cjson.encode({cjson.decode(in_up)[1], ''}))
      end
      if ext ~= '' then redis.call('HSET', k_ext, ext, pos) end
      redis.call('HSET', k_rows, slot + staged, row)
      staged = staged + 1
    end
  end
end
for _, key in ipairs({k_rows, k_ext, k_nums}) do redis.call('EXPIRE', key, ttl) end
local out = {staged, dups}
for _, v in ipairs(refused) do out[#out + 1] = v end
return out
