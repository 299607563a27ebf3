-- handover: a connected call goes from its agent to another agent (a supervisor, say), who is
-- rung while the first one stays on the call. A = {op, call, agent, offer}:
-- offer {call, agent}: the AVAILABLE ``agent`` becomes OFFERED for connected ``call``; returns
--   the offer as JSON, like claim.
-- accept {offer, agent}: the new agent takes the call; the first one wraps up (TRANSFER) and the
--   call is connected to the new one. Returns the first agent's id, or false if the offer or the
--   call is gone.
-- release {offer, agent}: the new agent did not take it (RINGNOANSWER): available again, and
--   the call stays with the first agent.
promote()
local op = A.op
if op == 'offer' then
  local c = call(A.call)
  if c.state ~= 'connected' then fail('not-connected', c.id) end
  if c.agent == A.agent then fail('same-agent', A.agent) end
  if (c.handover or '') ~= '' then fail('transfer-pending', c.id) end
  local h = agent(A.agent)
  check(h, 'offer')
  local oid = 'o' .. redis.call('INCR', K .. ':seq')
  deindex(h)
  move(h, 'offer', 'offer', oid)
  redis.call('HSET', okey(oid), 'call', c.id, 'queue', c.queue, 'offered_at', NOW,
    'agents', cjson.encode({h.id}))
  add_offer(oid, c.queue)
  redis.call('HSET', ckey(c.id), 'handover', oid)
  log('OFFER', c.queue, c.id, h.id, 'offer', oid, 'from', c.agent)
  return cjson.encode({offer = oid, call = c, offered_at = NOW, agents = {{id = h.id,
    device_kind = h.device_kind, device = h.device, auto_answer = h.auto_answer}}})
end
local o = hgetall(okey(A.offer))
local h = agent(A.agent)
if not o.call or h.offer ~= A.offer then return false end
local c = hgetall(ckey(o.call))
c.id = o.call
if op == 'accept' then
  if c.state ~= 'connected' or c.handover ~= A.offer then return false end
  local first = agent(c.agent)
  check(first, 'complete')
  check(h, 'accept')
  finish(c, first, 'TRANSFER', 'to', h.id)
  move(h, 'accept', 'offer', '', 'call', c.id, 'misses', 0)
  drop_offer(A.offer, o.queue)
  redis.call('HSET', ckey(c.id), 'agent', h.id, 'connected_at', NOW, 'handover', '')
  log('CONNECT', c.queue, c.id, h.id, 'holdtime',
    secs(tonumber(c.connected_at) - tonumber(c.enqueued_at)),
    'ringtime', secs(NOW - tonumber(o.offered_at)), 'from', first.id)
  return first.id
elseif op == 'release' then
  make_available(h, 'cancel', nil)
  log('RINGNOANSWER', o.queue, o.call, h.id, 'ringtime', secs(NOW - tonumber(o.offered_at)))
  drop_offer(A.offer, o.queue)
  if c.handover == A.offer then redis.call('HSET', ckey(c.id), 'handover', '') end
  return false
end
fail('unknown-op', op)
