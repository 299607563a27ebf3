-- KEYS: request hash, index. ARGV: id, cutoff, code key prefix. Removes a request created
-- before the cutoff (and frees its reference); returns 1 if removed.
local created = redis.call('ZSCORE', KEYS[2], ARGV[1])
if created and tonumber(created) >= tonumber(ARGV[2]) then return 0 end
local code = redis.call('HGET', KEYS[1], 'reference')
local held = code and ARGV[3] .. code
if held and redis.call('GET', held) == ARGV[1] then redis.call('DEL', held) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
