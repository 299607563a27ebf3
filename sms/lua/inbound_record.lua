-- KEYS: seen marker, conversation list; ARGV: content JSON, ttl.
-- Stores a new inbound message once; returns 'new', or the marker ('stored' or 'handled').
local seen = redis.call('GET', KEYS[1])
if seen then return seen end
redis.call('SET', KEYS[1], 'stored', 'EX', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 'new'
