-- Run with live_windows_common.lua in front; KEYS: live_windows.keys(device).
-- ARGV: device id, ttl, minutes in 24 h, then (µs, value) pairs.
local e, origin, first, a, d = load_state()
if not e then return {'rebuild'} end
local ttl, nmin = ARGV[2], tonumber(ARGV[3])
local newend = e
for i = 4, #ARGV, 2 do
  local us = tonumber(ARGV[i])
  if us > newend then newend = us end
end
local cut = newend - 3600000000
local lowmin = math.floor(newend / 60000000) - nmin + 1

-- the 1 h window loses what is now older than an hour
if newend > e then
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(cut))
  for start = 1, #old, 1000 do
    local chunk = {}
    for i = start, math.min(start + 999, #old) do chunk[#chunk + 1] = old[i] end
    local values = redis.call('ZMSCORE', KEYS[2], unpack(chunk))
    for i = 1, #chunk do
      if values[i] then remove(a, (tonumber(chunk[i]) - origin) / 1e6, tonumber(values[i])) end
    end
    redis.call('ZREM', KEYS[2], unpack(chunk))
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(cut)) end
end

-- the 24 h window loses the minutes now older than a day
if lowmin > first then
  local expired = {}
  if lowmin - first > 2 * nmin then
    for _, m in ipairs(redis.call('HKEYS', KEYS[3])) do
      if tonumber(m) < lowmin then expired[#expired + 1] = m end
    end
  else
    for m = first, lowmin - 1 do expired[#expired + 1] = tostring(m) end
  end
  for _, m in ipairs(expired) do
    local packed = redis.call('HGET', KEYS[3], m)
    if packed then
      unmerge(d, shifted(parse(packed), tonumber(m), origin))
      redis.call('HDEL', KEYS[3], m)
      redis.call('ZREM', KEYS[4], m)
      redis.call('ZREM', KEYS[5], m)
    end
  end
  first = lowmin
end

-- new readings
local added, late, seen_late, buckets = 0, {}, {}, {}
for i = 4, #ARGV, 2 do
  local us, v = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local m = math.floor(us / 60000000)
  if us > cut then
    if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i]) == 1 then
      redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
      local t = (us - origin) / 1e6
      add(a, t, v)
      add(d, t, v)
      local b = buckets[m]
      if not b then
        local packed = redis.call('HGET', KEYS[3], m)
        b = packed and parse(packed) or {0, 0, 0, 0, 0, 0, v, v}
        buckets[m] = b
      end
      add(b, (us - m * 60000000) / 1e6, v)
      if v < b[7] then b[7] = v end
      if v > b[8] then b[8] = v end
      redis.call('HINCRBY', KEYS[8], m, 1)
      added = added + 1
    end
  elseif m >= lowmin and not seen_late[m] then
    seen_late[m] = true
    late[#late + 1] = m
  end
end
for m, b in pairs(buckets) do
  redis.call('HSET', KEYS[3], m, pack(b))
  redis.call('ZADD', KEYS[4], fmt(b[7]), m)
  redis.call('ZADD', KEYS[5], fmt(b[8]), m)
end
save(fmt(newend), fmt(origin), first, a, d)
expire(ttl)
redis.call('ZADD', KEYS[9], 'GT', fmt(newend / 1e6), ARGV[1])
return report(newend, origin, first, a, d, added, late)
