-- KEYS: conversation hash, open pointer of its caller, conversation log stream.
-- ARGV: id, now, who ended it ("" for a supervisor), log maxlen. Returns 1 if it was open
-- (and logs the end).
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_at', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*',
  'event', 'end', 'id', ARGV[1], 'at', ARGV[2], 'agent', ARGV[3])
return 1
