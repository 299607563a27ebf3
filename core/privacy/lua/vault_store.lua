-- KEYS: entry, index, slot keys of the attempts (none: only look the entry up). ARGV: ref,
-- encrypted number, language, now (ISO 8601), now (epoch seconds), then the attempts'
-- pseudonyms. Returns {pseudonym, language} of the entry, or nil if every offered slot is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not seen or tonumber(seen) < tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'last_seen', ARGV[4])
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  end
  return redis.call('HMGET', KEYS[1], 'pseudonym', 'language')
end
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX') then
    redis.call('HSET', KEYS[1], 'number', ARGV[2], 'pseudonym', ARGV[i + 3], 'slot', KEYS[i],
               'language', ARGV[3], 'created', ARGV[4], 'last_seen', ARGV[4])
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
    return {ARGV[i + 3], ARGV[3]}
  end
end
return nil
