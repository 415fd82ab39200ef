-- Shared by the live-window scripts (prepended to each): moments, packing, state, reports.
local function fmt(x) return string.format('%.17g', x) end
local function zero(m) for i = 1, 6 do m[i] = 0 end end
local function add(m, t, v)
  local n = m[1] + 1
  local dt, dv = t - m[2], v - m[3]
  local mt, mv = m[2] + dt / n, m[3] + dv / n
  m[4] = m[4] + dt * (t - mt)
  m[5] = m[5] + dv * (v - mv)
  m[6] = m[6] + dt * (v - mv)
  m[1], m[2], m[3] = n, mt, mv
end
local function remove(m, t, v)
  local n = m[1] - 1
  if n <= 0 then zero(m) return end
  local mt, mv = (m[1] * m[2] - t) / n, (m[1] * m[3] - v) / n
  m[4] = m[4] - (t - mt) * (t - m[2])
  m[5] = m[5] - (v - mv) * (v - m[3])
  m[6] = m[6] - (t - mt) * (v - m[3])
  m[1], m[2], m[3] = n, mt, mv
end
-- b: {n, mean_t (shifted to the window origin), mean_v, m2_t, m2_v, c_tv}
local function merge(m, b)
  if b[1] == 0 then return end
  if m[1] == 0 then for i = 1, 6 do m[i] = b[i] end return end
  local n = m[1] + b[1]
  local dt, dv, w = b[2] - m[2], b[3] - m[3], m[1] * b[1] / n
  m[2], m[3] = m[2] + dt * b[1] / n, m[3] + dv * b[1] / n
  m[4] = m[4] + b[4] + dt * dt * w
  m[5] = m[5] + b[5] + dv * dv * w
  m[6] = m[6] + b[6] + dt * dv * w
  m[1] = n
end
local function unmerge(m, b)
  local n = m[1] - b[1]
  if n <= 0 then zero(m) return end
  local mt, mv = (m[1] * m[2] - b[1] * b[2]) / n, (m[1] * m[3] - b[1] * b[3]) / n
  local dt, dv, w = b[2] - mt, b[3] - mv, n * b[1] / m[1]
  m[4] = m[4] - b[4] - dt * dt * w
  m[5] = m[5] - b[5] - dv * dv * w
  m[6] = m[6] - b[6] - dt * dv * w
  m[1], m[2], m[3] = n, mt, mv
end
local function parse(s)
  local b = {}
  for x in string.gmatch(s, '%S+') do b[#b + 1] = tonumber(x) end
  return b
end
local function pack(b)
  return table.concat({b[1], fmt(b[2]), fmt(b[3]), fmt(b[4]), fmt(b[5]), fmt(b[6]), fmt(b[7]), fmt(b[8])}, ' ')
end
-- a bucket's moments with time measured from the window origin
local function shifted(b, minute, origin)
  return {b[1], b[2] + (minute * 60000000 - origin) / 1e6, b[3], b[4], b[5], b[6]}
end
local STATE = {'end', 'origin', 'first', 'a_n', 'a_mt', 'a_mv', 'a_m2t', 'a_m2v', 'a_ctv',
               'd_n', 'd_mt', 'd_mv', 'd_m2t', 'd_m2v', 'd_ctv'}
local function save(e, origin, first, a, d)
  local values = {e, origin, first}
  for i = 1, 6 do values[#values + 1] = fmt(a[i]) end
  for i = 1, 6 do values[#values + 1] = fmt(d[i]) end
  local args = {}
  for i = 1, #STATE do args[#args + 1] = STATE[i]; args[#args + 1] = values[i] end
  redis.call('HSET', KEYS[6], unpack(args))
end
local function expire(ttl)
  for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ttl) end
end
local function score(key, rank)
  local r = redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')
  return r[2] or ''
end
local function report(e, origin, first, a, d, added, late)
  local n1 = redis.call('ZCARD', KEYS[2])
  local out = {'ok', fmt(e), fmt(origin), fmt(first), added}
  for i = 1, 6 do out[#out + 1] = fmt(a[i]) end
  out[#out + 1] = score(KEYS[2], 0)
  out[#out + 1] = score(KEYS[2], -1)
  out[#out + 1] = score(KEYS[2], math.floor((n1 - 1) / 2))
  out[#out + 1] = score(KEYS[2], math.floor(n1 / 2))
  for i = 1, 6 do out[#out + 1] = fmt(d[i]) end
  out[#out + 1] = score(KEYS[4], 0)
  out[#out + 1] = score(KEYS[5], -1)
  for i = 1, #late do out[#out + 1] = late[i] end
  return out
end
local function load_state()
  if redis.call('EXISTS', KEYS[7]) == 0 then return nil end
  local s = redis.call('HMGET', KEYS[6], unpack(STATE))
  if not s[1] then return nil end
  local a, d = {}, {}
  for i = 1, 6 do a[i] = tonumber(s[3 + i]); d[i] = tonumber(s[9 + i]) end
  return tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), a, d
end
