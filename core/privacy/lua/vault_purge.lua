-- KEYS: entry, index, the slot key read from the entry (absent if none). ARGV: ref, cutoff
-- (epoch seconds). Returns 1 if the entry was last seen before the cutoff and is now gone.
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seen or tonumber(seen) >= tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[1], 'slot') ~= (KEYS[3] or false) then return 0 end
if KEYS[3] and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
