-- Chat tasks (SMS conversations) on the ACD's agents, standalone (no common.lua).
-- KEYS[1] = K, the "{prefix}:acd" root. ARGV[1] = now (epoch seconds), ARGV[2] = args JSON
-- {op, conv, queue, agent, ttl}, ARGV[3] = chat members JSON {queue: [[agent, capacity], ...]}
-- in agent-file order. An agent takes chats of a queue while its ACD hash says it is logged
-- into that queue and not paused (state not logged_out/paused), up to its capacity; the least
-- loaded such agent is picked first (file order breaks ties).
-- ops: offer {conv, queue}; finish {conv, ttl}; transfer {conv, queue, agent ('' = any)};
-- dispatch {queue}; drop {conv}. Returns JSON {state, agent, queue, assigned: [[conv, agent]]},
-- ``assigned`` being every conversation this call gave to an agent (the target included).
-- KEYS[2] = the conversation log stream: each assignment is logged there for the records
-- (event assign, id, agent, at = ARGV[1]) by the same script, capped at ARGV[4] entries (about).
local K = KEYS[1]
local LOG = KEYS[2]
local NOW = tonumber(ARGV[1])
local A = cjson.decode(ARGV[2])
local MEMBERS = cjson.decode(ARGV[3])

local function fail(code, message)
  error({err = 'ACD ' .. code .. ' ' .. message})
end

local function ckey(id) return K .. ':chat:' .. id end
local function lkey(aid) return K .. ':chat:agent:' .. aid end
local function wkey(q) return K .. ':chat:q:' .. q .. ':wait' end

local function task(conv)
  local v = redis.call('HMGET', ckey(conv), 'state', 'queue', 'agent', 'enqueued_at')
  if not v[1] then fail('unknown-conversation', conv) end
  return {state = v[1], queue = v[2], agent = v[3] or '', enqueued_at = tonumber(v[4])}
end

local function eligible(aid, q)
  local v = redis.call('HMGET', K .. ':agent:' .. aid, 'state', 'queues_in', 'paused_in')
  if not v[1] or v[1] == 'logged_out' or v[1] == 'paused' then return false end
  if cjson.decode(v[3] or '{}')[q] then return false end
  for _, name in ipairs(cjson.decode(v[2] or '[]')) do
    if name == q then return true end
  end
  return false
end

local function capacity(aid, q)
  for _, member in ipairs(MEMBERS[q] or {}) do
    if member[1] == aid then return tonumber(member[2]) end
  end
  return 0
end

local function has_slot(aid, q)
  return eligible(aid, q) and redis.call('SCARD', lkey(aid)) < capacity(aid, q)
end

local function pick(q)
  local best, best_load
  for _, member in ipairs(MEMBERS[q] or {}) do
    local aid = member[1]
    if eligible(aid, q) then
      local load = redis.call('SCARD', lkey(aid))
      if load < tonumber(member[2]) and (not best or load < best_load) then
        best, best_load = aid, load
      end
    end
  end
  return best
end

local assigned = {}

local function assign(conv, q, aid)
  redis.call('ZREM', wkey(q), conv)
  redis.call('SADD', lkey(aid), conv)
  redis.call('HSET', ckey(conv), 'queue', q, 'agent', aid, 'state', 'assigned', 'assigned_at', NOW)
  assigned[#assigned + 1] = {conv, aid}
  redis.call('XADD', LOG, 'MAXLEN', '~', ARGV[4], '*',
    'event', 'assign', 'id', conv, 'agent', aid, 'at', ARGV[1])
end

local function place(conv, q, enqueued_at)
  local aid = pick(q)
  if aid then
    assign(conv, q, aid)
  else
    redis.call('HSET', ckey(conv), 'queue', q, 'agent', '', 'state', 'waiting')
    redis.call('ZADD', wkey(q), enqueued_at, conv)
  end
end

local function unassign(conv, t)
  if t.agent ~= '' then redis.call('SREM', lkey(t.agent), conv) end
  redis.call('ZREM', wkey(t.queue), conv)
end

local function drain(q)
  for _, conv in ipairs(redis.call('ZRANGE', wkey(q), 0, -1)) do
    local aid = pick(q)
    if not aid then break end
    assign(conv, q, aid)
  end
end

local op = A.op
local conv = A.conv
if op == 'offer' then
  if redis.call('EXISTS', ckey(conv)) == 0 or task(conv).state == 'ended' then
    redis.call('DEL', ckey(conv))
    redis.call('HSET', ckey(conv), 'enqueued_at', NOW)
    place(conv, A.queue, NOW)
  end
elseif op == 'finish' then
  local t = task(conv)
  if t.state ~= 'ended' then
    unassign(conv, t)
    redis.call('HSET', ckey(conv), 'state', 'ended', 'ended_at', NOW)
    redis.call('EXPIRE', ckey(conv), A.ttl)
    drain(t.queue)
  end
elseif op == 'transfer' then
  local t = task(conv)
  if t.state == 'ended' then fail('conversation-ended', conv) end
  local q = A.queue ~= '' and A.queue or t.queue
  if A.agent ~= '' then
    if A.agent == t.agent and q == t.queue then fail('same-agent', A.agent) end
    if not has_slot(A.agent, q) then fail('agent-unavailable', A.agent .. ' ' .. q) end
    unassign(conv, t)
    assign(conv, q, A.agent)
  else
    unassign(conv, t)
    place(conv, q, t.enqueued_at)
  end
  drain(t.queue)
elseif op == 'dispatch' then
  drain(A.queue)
elseif op == 'drop' then
  if redis.call('EXISTS', ckey(conv)) == 1 then
    unassign(conv, task(conv))
    redis.call('DEL', ckey(conv))
  end
  return cjson.encode({state = 'dropped', agent = '', queue = '', assigned = {}})
else
  fail('unknown-op', op)
end
local result = {state = 'none', agent = '', queue = '', assigned = assigned}
if conv then
  local t = task(conv)
  result.state, result.agent, result.queue = t.state, t.agent, t.queue
end
return cjson.encode(result)
