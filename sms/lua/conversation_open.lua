-- KEYS: open pointer, new conversation hash, index, conversation log stream.
-- ARGV: new id, ttl, now, fields JSON, log entry JSON, log maxlen.
-- Returns {id, 1} for a new conversation (logged as opened), {id, 0} for the open one.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {redis.call('GET', KEYS[1]), 0}
end
for name, value in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[2], name, value) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local entry = {}
for name, value in pairs(cjson.decode(ARGV[5])) do
  entry[#entry + 1] = name
  entry[#entry + 1] = value
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))
return {ARGV[1], 1}
