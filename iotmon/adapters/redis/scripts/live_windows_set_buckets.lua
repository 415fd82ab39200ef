-- Run with live_windows_common.lua in front.
-- ARGV: device id, ttl, the `end` the buckets were computed up to, then (kind 'm' or 'h', number,
-- packed bucket or '-' for none) triples. Replaces whole buckets (idempotent); system:minutes and
-- `added` count the readings the replaced minutes and hours gained. If the windows moved on since
-- (another batch applied), nothing is replaced: {'moved'}.
local e = newest()
if not e then return {'rebuild'} end
if e ~= tonumber(ARGV[3]) then return {'moved'} end
local low = {m = floor(e / MIN) - NMIN + 1, h = floor(e / HOUR) - NHOUR + 1}
local top = {m = floor(e / MIN), h = floor(e / HOUR)}
local added = 0
for i = 4, #ARGV, 3 do
  local kind, x, packed = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if x >= low[kind] and x <= top[kind] then
    local f = kind .. x
    local before = bucket(f)[1]
    local after = 0
    if packed == '-' then
      redis.call('HDEL', KEYS[1], f)
    else
      redis.call('HSET', KEYS[1], f, packed)
      after = decode(packed)[1]
    end
    if after > before then
      if kind == 'm' then redis.call('HINCRBY', KEYS[2], x, after - before) else added = added + after - before end
    end
    if x < top[kind] then redis.call('HDEL', KEYS[1], 'p' .. kind, 'k' .. kind) end
  end
end
touch(e, ARGV[2])
return report(e, added, {}, {})
