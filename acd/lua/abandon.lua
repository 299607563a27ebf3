-- abandon: A = {call}. The caller left while waiting or ringing (ABANDON; short abandons are
-- counted apart). Returns {released agents, waited seconds}.
local c = call(A.call)
if c.state == 'connected' then fail('call-connected', c.id) end
local position = 0
local released = {}
if c.state == 'waiting' then
  position = wait_rem(c)
else
  released = release_offer(c.offer, nil)
end
local waited = NOW - tonumber(c.enqueued_at)
if waited < Q[c.queue].short_abandon_s then
  stat(c.queue, 'short_abandoned')
else
  stat(c.queue, 'abandoned')
end
log('ABANDON', c.queue, c.id, nil, 'position', position, 'origposition', c.origposition,
  'waittime', secs(waited))
redis.call('DEL', ckey(c.id))
return cjson.encode({released, waited})
