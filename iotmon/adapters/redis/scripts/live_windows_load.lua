-- Run with live_windows_common.lua in front; KEYS: live_windows.keys(device).
-- ARGV: device id, ttl, marker ttl, since, end µs, origin µs, first minute, a (6), d (6),
--       raw count, raw (µs, value) pairs, then (minute, packed bucket) pairs.
if redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
-- no state at all (first sight, or Redis lost it): the loaded readings count as new in system:minutes;
-- a re-base (the marker expired, the state is there) has counted them already
local fresh = redis.call('EXISTS', KEYS[6]) == 0
for i = 1, 6 do redis.call('DEL', KEYS[i]) end
local a, d = {}, {}
for i = 1, 6 do a[i] = tonumber(ARGV[7 + i]); d[i] = tonumber(ARGV[13 + i]) end
local nraw = tonumber(ARGV[20])
local i = 21
local stop = i + 2 * nraw
while i < stop do
  local tz, vz = {}, {}
  local last = math.min(i + 1999, stop - 1)
  for j = i, last, 2 do
    tz[#tz + 1] = ARGV[j]; tz[#tz + 1] = ARGV[j]
    vz[#vz + 1] = ARGV[j + 1]; vz[#vz + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(tz))
  redis.call('ZADD', KEYS[2], unpack(vz))
  i = last + 1
end
if fresh then
  local per_minute = {}
  for j = 21, stop - 1, 2 do
    local m = math.floor(tonumber(ARGV[j]) / 60000000)
    per_minute[m] = (per_minute[m] or 0) + 1
  end
  for m, count in pairs(per_minute) do redis.call('HINCRBY', KEYS[8], m, count) end
end
for j = stop, #ARGV, 2 do
  local b = parse(ARGV[j + 1])
  redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1])
  redis.call('ZADD', KEYS[4], fmt(b[7]), ARGV[j])
  redis.call('ZADD', KEYS[5], fmt(b[8]), ARGV[j])
end
save(ARGV[5], ARGV[6], ARGV[7], a, d)
expire(ARGV[2])
redis.call('SET', KEYS[7], ARGV[4], 'EX', ARGV[3])
redis.call('ZADD', KEYS[9], 'GT', fmt(tonumber(ARGV[5]) / 1e6), ARGV[1])
return 1
