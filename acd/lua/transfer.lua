-- transfer: A = {call, to, route}. A waiting call moves to another queue keeping its score
-- (priority and place by time); a connected call's agent wraps up (TRANSFER) and the call
-- waits in the new queue. Returns the new position.
local c = call(A.call)
if c.state == 'offered' then fail('call-offered', c.id) end
if (c.handover or '') ~= '' then fail('transfer-pending', c.id) end
local h
if c.state == 'connected' then
  h = agent(c.agent)
  check(h, 'complete')
  finish(c, h, 'TRANSFER', 'to', A.to)
else
  wait_rem(c)
  log('TRANSFER', c.queue, c.id, nil, 'to', A.to,
    'holdtime', secs(NOW - tonumber(c.enqueued_at)))
end
c.queue, c.route = A.to, A.route
redis.call('HSET', ckey(c.id), 'queue', c.queue, 'route', c.route, 'connected_at', '')
wait_add(c)
local position = redis.call('ZRANK', qkey(c.queue, 'wait'), c.id) + 1
stat(c.queue, 'entered')
log('ENTERQUEUE', c.queue, c.id, nil, 'position', position, 'kind', c.kind,
  'priority', c.priority)
return position
