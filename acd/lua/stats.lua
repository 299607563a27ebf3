-- stats: A = {queue}. A consistent snapshot: counters (since they began, and today's),
-- waiting, oldest wait, agents by state (an agent paused in this queue only counts as paused),
-- callbacks waiting to be made.
local q = A.queue
local by_state = {}
for _, aid in ipairs(redis.call('ZRANGE', qkey(q, 'members'), 0, -1)) do
  local s = redis.call('HMGET', akey(aid), 'state', 'wrapup_until', 'paused_in')
  local state = s[1]
  if state == 'wrap_up' and tonumber(s[2]) <= NOW then state = 'available' end
  -- Paused in this queue only: paused as far as this queue is concerned.
  if state ~= 'logged_out' and cjson.decode(s[3] or '{}')[q] then state = 'paused' end
  by_state[state] = (by_state[state] or 0) + 1
end
local oldest = redis.call('ZRANGE', qkey(q, 'since'), 0, 0, 'WITHSCORES')
local callbacks = 0
for _, cid in ipairs(redis.call('ZRANGE', qkey(q, 'wait'), 0, -1)) do
  if redis.call('HGET', ckey(cid), 'kind') == 'callback' then callbacks = callbacks + 1 end
end
return cjson.encode({
  counters = hgetall(qkey(q, 'stats')),
  today = hgetall(qkey(q, 'day:' .. DAY)),
  waiting = redis.call('ZCARD', qkey(q, 'wait')),
  oldest = oldest[2] or false,
  agents = by_state,
  callbacks = callbacks,
})
