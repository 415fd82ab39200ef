-- Shared by the live-window scripts (prepended to each): buckets, their merge, pruning, the report.
-- KEYS: live_windows.keys(device): the device's bucket hash, system:minutes, system:devices:seen.
-- A bucket is {n, mean_t, mean_v, m2_t, m2_v, c_tv, min, max}: centred moments with time in seconds from
-- the bucket's start (iotmon.core.stats), stored as 60 bytes (struct '<I4ddddddd'), so the whole hash
-- stays a compact listpack (values <= 64 bytes, < 128 fields).
local MIN, HOUR = 60000000, 3600000000
local NMIN, NHOUR = 60, 24
local FORMAT = '<I4ddddddd'
local floor = math.floor
local function fmt(x) return string.format('%.17g', x) end
local function empty() return {0, 0, 0, 0, 0, 0, math.huge, -math.huge} end
local function decode(s)
  local n, mt, mv, m2t, m2v, ctv, lo, hi = struct.unpack(FORMAT, s)
  return {n, mt, mv, m2t, m2v, ctv, lo, hi}
end
local function encode(b) return struct.pack(FORMAT, b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]) end
-- Welford's update with one reading (t in seconds from the bucket's start)
local function add(b, t, v)
  local n = b[1] + 1
  local dt, dv = t - b[2], v - b[3]
  local mt, mv = b[2] + dt / n, b[3] + dv / n
  b[4] = b[4] + dt * (t - mt)
  b[5] = b[5] + dv * (v - mv)
  b[6] = b[6] + dt * (v - mv)
  b[1], b[2], b[3] = n, mt, mv
  if v < b[7] then b[7] = v end
  if v > b[8] then b[8] = v end
end
-- Chan's merge of bucket b, its time moved by `shift` seconds, into m
local function merge(m, b, shift)
  if b[1] == 0 then return end
  if m[1] == 0 then
    for i = 1, 8 do m[i] = b[i] end
    m[2] = b[2] + shift
    return
  end
  local n = m[1] + b[1]
  local dt, dv, w = b[2] + shift - m[2], b[3] - m[3], m[1] * b[1] / n
  m[2], m[3] = m[2] + dt * b[1] / n, m[3] + dv * b[1] / n
  m[4] = m[4] + b[4] + dt * dt * w
  m[5] = m[5] + b[5] + dv * dv * w
  m[6] = m[6] + b[6] + dt * dv * w
  m[1] = n
  if b[7] < m[7] then m[7] = b[7] end
  if b[8] > m[8] then m[8] = b[8] end
end
local function bucket(field)
  local s = redis.call('HGET', KEYS[1], field)
  return s and decode(s) or empty()
end
-- forget the fields kind..x for x in [from, to] (at most `count` of them exist: the window before)
local function forget(kind, from, to)
  local fields = {}
  for x = from, to do fields[#fields + 1] = kind .. x end
  for i = 1, #fields, 500 do
    redis.call('HDEL', KEYS[1], unpack(fields, i, math.min(i + 499, #fields)))
  end
end
-- move the windows from the newest reading e to newer one `e2`: the minutes and hours that left go
local function prune(e, e2)
  local m, m2, h, h2 = floor(e / MIN), floor(e2 / MIN), floor(e / HOUR), floor(e2 / HOUR)
  if m2 > m then forget('m', m - NMIN + 1, math.min(m, m2 - NMIN)) end
  if h2 > h then forget('h', h - NHOUR + 1, math.min(h, h2 - NHOUR)) end
end
-- the buckets kind..(top - count) .. kind..(top - 1) merged, time from top's start; cached in the hash
-- (fields p<kind>, k<kind>) until `top` moves or a bucket before it is replaced
local function past(kind, top, count, width)
  local cached = redis.call('HMGET', KEYS[1], 'p' .. kind, 'k' .. kind)
  if cached[1] and tonumber(cached[2]) == top then return decode(cached[1]) end
  local fields = {}
  for x = top - count, top - 1 do fields[#fields + 1] = kind .. x end
  local got = redis.call('HMGET', KEYS[1], unpack(fields))
  local m = empty()
  for i = 1, #fields do
    if got[i] then merge(m, decode(got[i]), (i - 1 - count) * width / 1e6) end
  end
  redis.call('HSET', KEYS[1], 'p' .. kind, encode(m), 'k' .. kind, top)
  return m
end
local function window(kind, top, count, width)
  local m = past(kind, top, count - 1, width)
  merge(m, bucket(kind .. top), 0)
  return m
end
-- {'ok', end, added, the hour's 8 moments, the day's 8, number of late minutes, late minutes, late hours}
local function report(e, added, late_minutes, late_hours)
  local out = {'ok', fmt(e), added}
  for _, m in ipairs({window('m', floor(e / MIN), NMIN, MIN), window('h', floor(e / HOUR), NHOUR, HOUR)}) do
    for i = 1, 8 do out[#out + 1] = fmt(m[i]) end
  end
  out[#out + 1] = #late_minutes
  for _, x in ipairs(late_minutes) do out[#out + 1] = x end
  for _, x in ipairs(late_hours) do out[#out + 1] = x end
  return out
end
local function touch(e, ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[3], 'GT', fmt(e / 1e6), ARGV[1])
end
local function newest()
  local e = redis.call('HGET', KEYS[1], 'end')
  return e and tonumber(e)
end
