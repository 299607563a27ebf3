-- KEYS: an outbound message hash. ARGV: cutoff (epoch seconds).
-- Empties the body of a message created before the cutoff that no send needs any more (not
-- queued or sending); returns 1 if it did.
local fields = redis.call('HMGET', KEYS[1], 'created_at', 'state', 'body')
if not fields[1] or tonumber(fields[1]) >= tonumber(ARGV[1]) then return 0 end
if fields[2] == 'queued' or fields[2] == 'sending' or fields[3] == '' then return 0 end
redis.call('HSET', KEYS[1], 'body', '')
return 1
