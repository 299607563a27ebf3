-- enqueue: A = {call = {id, queue, owner, pseudonym, language, skill, route, priority, kind,
-- enqueued_at, score, line, ivr_path}, claim, draw}, then the adapter's records, written first. Returns
-- {accepted, reason, position, staffed, handle_sum, handle_n, offer}: with ``claim``, an
-- accepted call is followed at once by a claim of the queue (claiming.lua; ``offer`` is its
-- answer), saving the adapter a round trip; otherwise ``offer`` is false.
save_records(ARGV, 5)
local c = A.call
local q = c.queue
local cfg = Q[q]
if redis.call('EXISTS', ckey(c.id)) == 1 then fail('duplicate-call', c.id) end
local staffed = redis.call('SCARD', qkey(q, 'staffed'))
local reason = false
-- A callback is a promise already made to a caller who has hung up: it is always kept (it
-- still counts as waiting, so a queue full of callbacks refuses live callers).
if c.kind ~= 'callback' then
  if not cfg.join_empty and staffed == 0 then
    reason = 'empty'
    log('JOINEMPTY', q, c.id, nil)
  elseif cfg.max_len > 0 and redis.call('ZCARD', qkey(q, 'wait')) >= cfg.max_len then
    reason = 'full'
    log('FULL', q, c.id, nil)
  end
end
local stats = redis.call('HMGET', qkey(q, 'stats'), 'handle_sum', 'handle_n')
if reason then
  return cjson.encode({false, reason, 0, staffed, stats[1] or 0, stats[2] or 0, false})
end
redis.call('HSET', ckey(c.id), 'queue', q, 'owner', c.owner, 'pseudonym', c.pseudonym,
  'language', c.language, 'skill', c.skill, 'route', c.route, 'priority', c.priority,
  'kind', c.kind, 'enqueued_at', c.enqueued_at, 'score', c.score, 'line', c.line or '',
  'ivr_path', c.ivr_path or '')
wait_add(c)
local position = redis.call('ZRANK', qkey(q, 'wait'), c.id) + 1
redis.call('HSET', ckey(c.id), 'origposition', position)
stat(q, 'entered')
log('ENTERQUEUE', q, c.id, nil, 'position', position, 'kind', c.kind, 'priority', c.priority)
local offer = false
if A.claim then offer = claim(q, A.draw) end
return cjson.encode({true, false, position, staffed, stats[1] or 0, stats[2] or 0, offer})
