-- KEYS: message hash, failed zset, [sid key]
-- ARGV: allowed sources (space-separated), attempt ('' = any), target, now, message id, ttl,
--       then field, value pairs. Returns {1, previous state} or {0, current state or ''}.
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return {0, ''} end
if not string.find(' ' .. ARGV[1] .. ' ', ' ' .. current .. ' ', 1, true) then
  return {0, current}
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2] then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'updated_at', ARGV[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] == 'failed' or ARGV[3] == 'undelivered' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
end
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6]) end
return {1, current}
