-- Run with live_windows_common.lua in front.
-- ARGV: device id, ttl, since (when loaded), end µs, then (field 'm<minute>' or 'h<hour>', packed bucket)
-- pairs. Loads the device's windows unless another process did it first ({'exists'}). The loaded minutes'
-- readings count as new in system:minutes (the device had no state: first sight, or Redis lost it).
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local e = tonumber(ARGV[4])
local args = {'end', ARGV[4], 'since', ARGV[3]}
for i = 5, #ARGV, 2 do
  args[#args + 1] = ARGV[i]
  args[#args + 1] = ARGV[i + 1]
  if string.sub(ARGV[i], 1, 1) == 'm' then
    redis.call('HINCRBY', KEYS[2], string.sub(ARGV[i], 2), decode(ARGV[i + 1])[1])
  end
end
redis.call('HSET', KEYS[1], unpack(args))
touch(e, ARGV[2])
return report(e, 0, {}, {})
