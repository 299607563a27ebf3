-- stats: A = {queue}. A consistent snapshot: counters, waiting, oldest wait, agents by state.
local q = A.queue
local by_state = {}
for _, aid in ipairs(redis.call('ZRANGE', qkey(q, 'members'), 0, -1)) do
  local s = redis.call('HMGET', akey(aid), 'state', 'wrapup_until')
  local state = s[1]
  if state == 'wrap_up' and tonumber(s[2]) <= NOW then state = 'available' end
  by_state[state] = (by_state[state] or 0) + 1
end
local oldest = redis.call('ZRANGE', qkey(q, 'since'), 0, 0, 'WITHSCORES')
return cjson.encode({
  counters = hgetall(qkey(q, 'stats')),
  waiting = redis.call('ZCARD', qkey(q, 'wait')),
  oldest = oldest[2] or false,
  agents = by_state,
})
