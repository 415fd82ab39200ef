-- Run with live_windows_common.lua in front.
-- ARGV: device id, ttl, then (µs, value) pairs, oldest first.
-- A reading newer than the newest applied (`end`) is added to its minute's and hour's buckets; one at or
-- before `end` (redelivered, or late) changes nothing here: its minute and hour are reported, and the
-- caller replaces those buckets with PostgreSQL's (set_buckets).
local e = newest()
if not e then return {'rebuild'} end
local e2 = e
for i = 3, #ARGV, 2 do
  local us = tonumber(ARGV[i])
  if us > e2 then e2 = us end
end
prune(e, e2)
local low_minute, low_hour = floor(e2 / MIN) - NMIN + 1, floor(e2 / HOUR) - NHOUR + 1
local added, last = 0, e
local changed, per_minute = {}, {}
local late_minutes, late_hours, seen = {}, {}, {}
for i = 3, #ARGV, 2 do
  local us, v = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local m, h = floor(us / MIN), floor(us / HOUR)
  if us > last then
    last = us
    added = added + 1
    if m >= low_minute then
      local f = 'm' .. m
      changed[f] = changed[f] or bucket(f)
      add(changed[f], (us - m * MIN) / 1e6, v)
      per_minute[m] = (per_minute[m] or 0) + 1
    end
    if h >= low_hour then
      local f = 'h' .. h
      changed[f] = changed[f] or bucket(f)
      add(changed[f], (us - h * HOUR) / 1e6, v)
    end
  else
    if m >= low_minute and not seen['m' .. m] then
      seen['m' .. m] = true
      late_minutes[#late_minutes + 1] = m
    end
    if h >= low_hour and not seen['h' .. h] then
      seen['h' .. h] = true
      late_hours[#late_hours + 1] = h
    end
  end
end
local args = {'end', fmt(e2)}
for f, b in pairs(changed) do
  args[#args + 1] = f
  args[#args + 1] = encode(b)
end
redis.call('HSET', KEYS[1], unpack(args))
for m, count in pairs(per_minute) do redis.call('HINCRBY', KEYS[2], m, count) end
touch(e2, ARGV[2])
return report(e2, added, late_minutes, late_hours)
