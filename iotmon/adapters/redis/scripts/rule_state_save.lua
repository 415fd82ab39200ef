-- Save devices' rule states, each unless a newer one is there (a redelivery, or another evaluator).
-- KEYS: one state hash per device. ARGV: lastTs and state JSON for each key in turn.
-- Returns how many were saved.
local saved = 0
for i, key in ipairs(KEYS) do
  local ts, state = ARGV[2 * i - 1], ARGV[2 * i]
  local last = redis.call('HGET', key, 'lastTs')
  if not last or tonumber(last) < tonumber(ts) then
    redis.call('HSET', key, 'lastTs', ts, 'state', state)
    saved = saved + 1
  end
end
return saved
