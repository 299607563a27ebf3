-- callback: A = {call}. A waiting voice call becomes a callback entry that keeps its place;
-- 'callback_at' (when the caller asked for it) is for the volunteer's screen-pop.
local c = call(A.call)
if c.state ~= 'waiting' then fail('not-waiting', c.id) end
redis.call('HSET', ckey(c.id), 'kind', 'callback', 'callback_at', NOW)
log('CALLBACK', c.queue, c.id, nil, 'position', redis.call('ZRANK', qkey(c.queue, 'wait'), c.id) + 1)
return 1
