-- KEYS: seen marker. ARGV: claim token, new marker ('handled' or 'stored').
-- Ends a claim taken by inbound_record if it still holds it; returns 1 if it did.
local seen = redis.call('GET', KEYS[1])
if not seen or string.sub(seen, -#ARGV[1] - 1) ~= ' ' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
