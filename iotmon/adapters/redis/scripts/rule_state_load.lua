-- Devices' rule states (false where there is none), in one call rather than one command per device.
-- KEYS: one state hash per device.
local states = {}
for i, key in ipairs(KEYS) do
  states[i] = redis.call('HGET', key, 'state')
end
return states
