-- callback: A = {call}. A waiting voice call becomes a callback entry that keeps its place.
local c = call(A.call)
if c.state ~= 'waiting' then fail('not-waiting', c.id) end
redis.call('HSET', ckey(c.id), 'kind', 'callback')
log('CALLBACK', c.queue, c.id, nil, 'position', redis.call('ZRANK', qkey(c.queue, 'wait'), c.id) + 1)
return 1
