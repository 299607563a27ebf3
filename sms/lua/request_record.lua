-- KEYS: request hash, request index, candidate code keys. ARGV: request id, ttl, now (epoch),
-- fields JSON, then the candidates' codes. Returns the code taken, or nil if all are taken.
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[2]) then
    local code = ARGV[i + 2]
    redis.call('HSET', KEYS[1], 'reference', code)
    for name, value in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[1], name, value) end
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    return code
  end
end
return nil
