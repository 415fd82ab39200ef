-- Set many string keys, each with its expiry, in one command rather than one SET each.
-- KEYS: the keys. ARGV: the value and the expiry (seconds) of each key in turn.
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2 * i - 1], 'EX', ARGV[2 * i])
end
return #KEYS
