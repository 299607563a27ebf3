-- Agent sign-in and availability. A = {op, agent, ...}:
-- upsert {profile fields, order}; login {queues, device_kind, device}; logout;
-- pause {reason, queue}; resume {queue}; end_wrapup; extend_wrapup {seconds}. Returns the new
-- state (extend_wrapup: the wrap-up's new end). reset {by, reason}
-- returns {the state before, the new state}.
-- With a queue, pause and resume act on that one queue only (the agent keeps its state and
-- takes calls from its other queues); without, on the agent as a whole.
local op = A.op
if op == 'upsert' then
  local key = akey(A.agent)
  local exists = redis.call('EXISTS', key) == 1
  local h = exists and agent(A.agent) or nil
  if h and h.state == 'available' then deindex(h) end
  redis.call('HSET', key, 'name', A.name, 'skills', A.skills, 'allowed', A.allowed,
    'wrapup_s', A.wrapup_s, 'order', A.order, 'auto_answer', A.auto_answer)
  if not exists then redis.call('HSET', key, 'state', 'logged_out', 'queues_in', '[]') end
  if h and h.state == 'available' then index(agent(A.agent)) end
  return exists and h.state or 'logged_out'
end
local h = agent(A.agent)
if op == 'login' then
  check(h, 'login')
  local allowed = {}
  for _, q in ipairs(cjson.decode(h.allowed)) do allowed[q] = true end
  for _, q in ipairs(A.queues) do
    if not allowed[q] then fail('not-member', h.id .. ' ' .. q) end
  end
  h.queues_in, h.paused_in = A.queues, {}
  redis.call('HSET', akey(h.id), 'queues_in', cjson.encode(A.queues), 'device_kind',
    A.device_kind, 'device', A.device, 'misses', 0, 'pause_reason', '', 'paused_in', '{}')
  for _, q in ipairs(A.queues) do
    redis.call('ZADD', qkey(q, 'members'), h.order, h.id)
    log('ADDMEMBER', q, nil, h.id)
  end
  set_staffed(h, true)
  make_available(h, 'login', NOW)
elseif op == 'logout' then
  check(h, 'logout')
  if h.state == 'available' then deindex(h) end
  set_staffed(h, false)
  redis.call('ZREM', K .. ':wrapup', h.id)
  for _, q in ipairs(h.queues_in) do
    redis.call('ZREM', qkey(q, 'members'), h.id)
    log('REMOVEMEMBER', q, nil, h.id)
  end
  move(h, 'logout', 'queues_in', '[]', 'device', '', 'device_kind', '', 'pause_reason', '',
    'paused_in', '{}')
elseif (op == 'pause' or op == 'resume') and (A.queue or '') ~= '' then
  local q = A.queue
  if h.state == 'logged_out' then fail('logged-out', h.id) end
  local member = false
  for _, name in ipairs(h.queues_in) do member = member or name == q end
  if not member then fail('not-logged-in-queue', h.id .. ' ' .. q) end
  local was = h.paused_in[q]
  if op == 'pause' then
    h.paused_in[q] = A.reason
    for _, key in ipairs(index_keys(h, q)) do redis.call('ZREM', key, h.id) end
    redis.call('SREM', qkey(q, 'staffed'), h.id)
    log('PAUSE', q, nil, h.id, 'reason', A.reason)
  elseif was then
    h.paused_in[q] = nil
    if h.state == 'available' then
      local s = score(h, q)
      for _, key in ipairs(index_keys(h, q)) do redis.call('ZADD', key, s, h.id) end
    end
    if h.state ~= 'paused' then redis.call('SADD', qkey(q, 'staffed'), h.id) end
    log('UNPAUSE', q, nil, h.id)
  end
  redis.call('HSET', akey(h.id), 'paused_in', cjson.encode(h.paused_in))
elseif op == 'pause' then
  check(h, 'pause')
  if h.state == 'available' then deindex(h) end
  set_staffed(h, false)
  redis.call('ZREM', K .. ':wrapup', h.id)
  move(h, 'pause', 'pause_reason', A.reason)
  for _, q in ipairs(h.queues_in) do log('PAUSE', q, nil, h.id, 'reason', A.reason) end
elseif op == 'resume' then
  check(h, 'resume')
  set_staffed(h, true)
  make_available(h, 'resume', nil, 'misses', 0, 'pause_reason', '')
  for _, q in ipairs(h.queues_in) do log('UNPAUSE', q, nil, h.id) end
elseif op == 'end_wrapup' then
  check(h, 'wrapup_end')
  redis.call('ZREM', K .. ':wrapup', h.id)
  make_available(h, 'wrapup_end', NOW)
  log('WRAPUPEND', 'NONE', nil, h.id)
elseif op == 'extend_wrapup' then
  -- A wrap-up not yet over lasts ``seconds`` longer (WRAPUPEXTEND, with the call wrapped up and
  -- its new end: the records store moves the wrap-up form's deadline with it).
  local untl = tonumber(h.wrapup_until or '')
  if h.state ~= 'wrap_up' or not untl or untl <= NOW then fail('not-wrapping-up', h.id) end
  untl = untl + tonumber(A.seconds)
  redis.call('HSET', akey(h.id), 'wrapup_until', untl)
  redis.call('ZADD', K .. ':wrapup', untl, h.id)
  log('WRAPUPEXTEND', 'NONE', h.wrapup_call, h.id, 'until', secs(untl))
  return tostring(untl)
elseif op == 'reset' then
  -- Staff clear a stuck agent (RESET, with who and why). An offer is let go: the call waits
  -- again at its place once no other agent rings it (a transfer's call stays with its first
  -- agent); a connected call ends for the agent without wrap-up or handle-time statistics.
  -- A logged-in agent becomes AVAILABLE, with no pause, miss or wrap-up left.
  local was, call_id, queue = h.state, nil, nil
  check(h, 'reset')
  if was == 'offered' then
    local oid = h.offer or ''
    local o = hgetall(okey(oid))
    local ringing = false
    for _, aid in ipairs(cjson.decode(o.agents or '[]')) do
      ringing = ringing or (aid ~= h.id and redis.call('HGET', akey(aid), 'offer') == oid)
    end
    if o.call and not ringing then
      local c = hgetall(ckey(o.call))
      c.id = o.call
      drop_offer(oid, o.queue)
      if c.state == 'offered' and c.offer == oid then
        wait_add(c)
      elseif c.state == 'connected' and c.handover == oid then
        redis.call('HSET', ckey(c.id), 'handover', '')
      end
    end
    call_id, queue = o.call, o.queue
  elseif was == 'on_call' then
    call_id = (h.call or '') ~= '' and h.call or nil
    redis.call('DEL', K .. ':texter:' .. (h.call or ''))  -- a call the agent asked for
    local c = hgetall(ckey(h.call or ''))
    if c.state == 'connected' and c.agent == h.id then
      if (c.handover or '') ~= '' then release_offer(c.handover, nil) end
      redis.call('DEL', ckey(h.call))
      queue = c.queue
    end
  elseif was == 'available' then
    deindex(h)
  end
  if was == 'logged_out' then
    move(h, 'reset')
  else
    redis.call('ZREM', K .. ':wrapup', h.id)
    h.paused_in = {}
    set_staffed(h, true)
    local idle = (was == 'on_call' or was == 'wrap_up') and NOW or nil
    make_available(h, 'reset', idle, 'misses', 0, 'pause_reason', '', 'paused_in', '{}')
  end
  log('RESET', queue, call_id, h.id, 'from', was, 'by', A.by, 'reason', A.reason)
  return {was, h.state}
else
  fail('unknown-op', op)
end
return h.state
