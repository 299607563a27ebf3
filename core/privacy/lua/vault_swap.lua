-- KEYS: entry. ARGV: the encrypted number read, the re-encrypted one. Returns 1 if replaced.
if redis.call('HGET', KEYS[1], 'number') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'number', ARGV[2])
return 1
