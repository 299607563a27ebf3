-- KEYS: conversation hash, messages, index. ARGV: id, cutoff, open pointer prefix.
-- Removes a conversation last active before the cutoff; returns 1 if removed.
local seen = redis.call('ZSCORE', KEYS[3], ARGV[1])
if seen and tonumber(seen) >= tonumber(ARGV[2]) then return 0 end
local ref = redis.call('HGET', KEYS[1], 'caller_ref')
if ref and redis.call('GET', ARGV[3] .. ref) == ARGV[1] then redis.call('DEL', ARGV[3] .. ref) end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
