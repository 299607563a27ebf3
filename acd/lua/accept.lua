-- accept: A = {offer, agent}, then the adapter's records, written only by the winner. The
-- first accept of an offer wins; the other agents still ringing are released.
-- Returns {won, call, released}.
local o = hgetall(okey(A.offer))
local h = agent(A.agent)
if not o.call or h.offer ~= A.offer then return cjson.encode({false, false, {}}) end
local c = call(o.call)
check(h, 'accept')
local released = release_offer(A.offer, h.id)
move(h, 'accept', 'offer', '', 'call', c.id, 'misses', 0)
local waited = NOW - tonumber(c.enqueued_at)
redis.call('HSET', ckey(c.id), 'state', 'connected', 'offer', '', 'agent', h.id,
  'connected_at', NOW)
stat(c.queue, 'answered')
stat(c.queue, 'wait_sum', waited)
if waited <= Q[c.queue].service_level_s then stat(c.queue, 'answered_in_sl') end
log('CONNECT', c.queue, c.id, h.id, 'holdtime', secs(waited),
  'ringtime', secs(NOW - tonumber(o.offered_at)))
save_records(ARGV, 5)
return cjson.encode({true, c.id, released})
