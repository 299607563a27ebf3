-- expire: A = {queue, owner}. The owner's waiting calls that waited max_wait_s leave
-- (EXITWITHTIMEOUT); with leave_when_empty and no staffed agent, all of them leave (EXITEMPTY).
-- Callbacks stay: the caller has hung up with a promise to be called back. Returns
-- {{call, reason}...}.
local q = A.queue
local cfg = Q[q]
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
return cjson.encode(exits)
