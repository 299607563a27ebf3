-- Agent sign-in and availability. A = {op, agent, ...}:
-- upsert {profile fields, order}; login {queues, device_kind, device}; logout;
-- pause {reason}; resume; end_wrapup. Returns the new state.
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
  h.queues_in = A.queues
  redis.call('HSET', akey(h.id), 'queues_in', cjson.encode(A.queues), 'device_kind',
    A.device_kind, 'device', A.device, 'misses', 0, 'pause_reason', '')
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
  move(h, 'logout', 'queues_in', '[]', 'device', '', 'device_kind', '', 'pause_reason', '')
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
else
  fail('unknown-op', op)
end
return h.state
