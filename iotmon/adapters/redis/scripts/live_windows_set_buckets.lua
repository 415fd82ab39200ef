-- Run with live_windows_common.lua in front; KEYS: live_windows.keys(device).
-- ARGV: device id, ttl, then (minute, packed bucket or '-' for none) pairs.
local e, origin, first, a, d = load_state()
if not e then return {'rebuild'} end
for i = 3, #ARGV, 2 do
  local m = tonumber(ARGV[i])
  if m >= first then
    local old = redis.call('HGET', KEYS[3], ARGV[i])
    if old then unmerge(d, shifted(parse(old), m, origin)) end
    if ARGV[i + 1] == '-' then
      redis.call('HDEL', KEYS[3], ARGV[i])
      redis.call('ZREM', KEYS[4], ARGV[i])
      redis.call('ZREM', KEYS[5], ARGV[i])
    else
      local b = parse(ARGV[i + 1])
      merge(d, shifted(b, m, origin))
      redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
      redis.call('ZADD', KEYS[4], fmt(b[7]), ARGV[i])
      redis.call('ZADD', KEYS[5], fmt(b[8]), ARGV[i])
    end
  end
end
save(fmt(e), fmt(origin), first, a, d)
expire(ARGV[2])
return report(e, origin, first, a, d, 0, {})
