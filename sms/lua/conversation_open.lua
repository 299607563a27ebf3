-- KEYS: open pointer, new conversation hash, index. ARGV: new id, ttl, now, fields JSON.
-- Returns {id, 1} for a new conversation, {id, 0} for the open one.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {redis.call('GET', KEYS[1]), 0}
end
for name, value in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[2], name, value) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {ARGV[1], 1}
