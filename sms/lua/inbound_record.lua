-- KEYS: seen marker, conversation list
-- ARGV: content JSON, ttl, now, lease seconds, redelivered ('1' or '0'), claim token
-- Stores a new inbound message once and claims its handling, atomically. The marker is
-- 'handled', 'stored' (not handled, not being handled) or 'handling <lease end> <token>'.
-- Returns 'new' (stored and claimed), 'claimed' (a redelivery of a message stored earlier and
-- not being handled: claimed again), or what stops this delivery: 'handled', 'busy' (another
-- delivery holds a live claim) or 'stored' (not a redelivery).
local seen = redis.call('GET', KEYS[1])
local claim = 'handling ' .. (tonumber(ARGV[3]) + tonumber(ARGV[4])) .. ' ' .. ARGV[6]
if not seen then
  redis.call('SET', KEYS[1], claim, 'EX', ARGV[2])
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 'new'
end
if seen == 'handled' then return seen end
local lease = string.match(seen, '^handling (%S+) ')
if lease and tonumber(lease) > tonumber(ARGV[3]) then return 'busy' end
if ARGV[5] ~= '1' then return 'stored' end
redis.call('SET', KEYS[1], claim, 'KEEPTTL')
return 'claimed'
