-- Save a device's rule state, unless a newer one is there (a redelivery, or another evaluator).
-- KEYS: state. ARGV: lastTs, state JSON.
local last = redis.call('HGET', KEYS[1], 'lastTs')
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'lastTs', ARGV[1], 'state', ARGV[2])
return 1
