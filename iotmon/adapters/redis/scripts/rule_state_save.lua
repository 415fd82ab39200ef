-- Save a device's rule state, unless a newer one is there (a redelivery, or another evaluator).
-- KEYS: state, window. ARGV: lastTs, machines JSON, ttl, window cap, new window entries…
local last = redis.call('HGET', KEYS[1], 'lastTs')
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'lastTs', ARGV[1], 'machines', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #ARGV > 4 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 5))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
