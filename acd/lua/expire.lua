-- expire: A = {queue, owner}. First, the queue's offers older than offer_life_s, which no
-- process settled (it died, or lost the leg's events): every agent still ringing for one is
-- available again and the call waits again at its old place (RECONCILE offer-expired; no miss:
-- nobody knows the volunteer missed it). Then the owner's waiting calls that waited max_wait_s
-- leave (EXITWITHTIMEOUT); with leave_when_empty and no staffed agent, all of them leave
-- (EXITEMPTY). Callbacks stay: the caller has hung up with a promise to be called back.
-- Returns {{{call, reason}...}, {{offer, call}...}}.
local q = A.queue
local cfg = Q[q]
local expired = {}
for _, oid in ipairs(redis.call('ZRANGEBYSCORE', qkey(q, 'offers'), '-inf',
    NOW - cfg.offer_life_s)) do
  local o = hgetall(okey(oid))
  local c = o.call and hgetall(ckey(o.call)) or {}
  c.id = o.call
  for _, aid in ipairs(cjson.decode(o.agents or '[]')) do
    local h = hgetall(akey(aid))
    if h.offer == oid and h.state == 'offered' then
      h = agent(aid)
      make_available(h, 'cancel', nil)
      log('RECONCILE', q, o.call, aid, 'repair', 'offer-expired', 'offer', oid,
        'ringtime', secs(NOW - tonumber(o.offered_at)))
      redis.call('HINCRBY', K .. ':reconciled', 'offer-expired', 1)
    end
  end
  if c.state == 'offered' and c.offer == oid then
    wait_add(c)
  elseif c.state == 'connected' and c.handover == oid then
    redis.call('HSET', ckey(c.id), 'handover', '')
  end
  drop_offer(oid, q)
  expired[#expired + 1] = {oid, o.call or ''}
end
local exits = {}
local function leave(ids, verb, reason)
  for _, id in ipairs(ids) do
    local c = call(id)
    if c.owner == A.owner and c.state == 'waiting' and c.kind ~= 'callback' then
      local position = wait_rem(c)
      stat(q, reason == 'timeout' and 'timed_out' or 'left_empty')
      log(verb, q, c.id, nil, 'position', position, 'origposition', c.origposition,
        'waittime', secs(NOW - tonumber(c.enqueued_at)))
      redis.call('DEL', ckey(c.id))
      exits[#exits + 1] = {c.id, reason}
    end
  end
end
if cfg.max_wait_s > 0 then
  leave(redis.call('ZRANGEBYSCORE', qkey(q, 'since'), '-inf', NOW - cfg.max_wait_s),
    'EXITWITHTIMEOUT', 'timeout')
end
if cfg.leave_when_empty and redis.call('SCARD', qkey(q, 'staffed')) == 0 then
  leave(redis.call('ZRANGE', qkey(q, 'wait'), 0, -1), 'EXITEMPTY', 'empty')
end
return cjson.encode({exits, expired})
