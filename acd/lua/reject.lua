-- reject: A = {offer, agent, reason}. The agent misses the offer (RINGNOANSWER); after the
-- queue's max_misses in a row it is paused ("no-answer"). A device Asterisk could not be asked
-- to ring (reason "not-rung") is no miss. When no agent still rings, the call
-- waits again with its old score. Returns {requeued, position, paused}.
local o = hgetall(okey(A.offer))
local h = agent(A.agent)
if not o.call or h.offer ~= A.offer then return cjson.encode({false, 0, false}) end
local c = call(o.call)
local cfg = Q[o.queue]
local misses = tonumber(h.misses) or 0
if A.reason ~= 'not-rung' then misses = misses + 1 end  -- the PBX failed, not the volunteer
local paused = misses >= cfg.max_misses
make_available(h, 'miss', NOW, 'misses', misses)
log('RINGNOANSWER', o.queue, c.id, h.id, 'ringtime', secs(NOW - tonumber(o.offered_at)),
  'reason', A.reason)
if paused then
  deindex(h)
  set_staffed(h, false)
  move(h, 'pause', 'pause_reason', 'no-answer')
  for _, q in ipairs(h.queues_in) do log('PAUSE', q, nil, h.id, 'reason', 'no-answer') end
end
for _, aid in ipairs(cjson.decode(o.agents)) do
  if aid ~= h.id and redis.call('HGET', akey(aid), 'offer') == A.offer then
    return cjson.encode({false, 0, paused})
  end
end
drop_offer(A.offer, o.queue)
wait_add(c)
return cjson.encode({true, redis.call('ZRANK', qkey(c.queue, 'wait'), c.id) + 1, paused})
