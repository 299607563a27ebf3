-- texter: a call a volunteer asked for (to a texter, acd.offers.call_texter), no queue's call.
-- From the request to the call's end the volunteer is ON_CALL (CALL_OUT) with ``call`` the
-- call's id, so no queue offers them a call; ``K:texter:<call>`` = {agent, owner, at}, where
-- ``owner`` is the app instance whose channels carry it (its reconciler frees the volunteer if
-- they are gone). No queue statistics and no queue-log entry: the call is no queue's.
-- A = {op, call, agent, owner}:
-- hold: an AVAILABLE agent becomes ON_CALL (else ACD not-available <agent> <state>).
-- claim: the instance about to ring the agent owns the call; 1 if the agent is still held by
--   it, else 0 (freed meanwhile: do not ring).
-- release: the call ended: the agent, if still held by it, is AVAILABLE again, idle since now
--   (no wrap-up). With ``owner``, only if that instance owns the call. 1 if released.
local op = A.op
local tkey = K .. ':texter:' .. A.call
if op == 'hold' then
  local h = agent(A.agent)
  if h.state ~= 'available' then fail('not-available', h.id .. ' ' .. h.state) end
  deindex(h)
  move(h, 'call_out', 'call', A.call)
  redis.call('HSET', tkey, 'agent', h.id, 'owner', A.owner, 'at', NOW)
  redis.call('EXPIRE', tkey, 86400)
  return h.state
end
local t = hgetall(tkey)
local a = hgetall(akey(A.agent))
local held = t.agent == A.agent and a.state == 'on_call' and a.call == A.call
if op == 'claim' then
  if not held then return 0 end
  redis.call('HSET', tkey, 'owner', A.owner)
  return 1
elseif op == 'release' then
  if (A.owner or '') ~= '' and t.owner ~= A.owner then return 0 end
  redis.call('DEL', tkey)
  if not held then return 0 end
  make_available(agent(A.agent), 'call_out_end', NOW)
  return 1
end
fail('unknown-op', op)
