-- Shared by every ACD script (prepended by acd/store.py). Single Redis, not Cluster: keys are
-- derived from K, the "{prefix}:acd" root passed as KEYS[1].
-- ARGV[1] = now (epoch seconds, ms precision), ARGV[2] = queue config JSON, ARGV[3] = args JSON,
-- then, for enqueue, accept and complete, the adapter's record writes (records.lua, prepended).
local K = KEYS[1]
local NOW = tonumber(ARGV[1])
local Q = cjson.decode(ARGV[2])
local A = cjson.decode(ARGV[3])
local T = __TRANSITIONS__
local LEVELS = 5
local HANDLE_CAP = 100

local function fail(code, message)
  error({err = 'ACD ' .. code .. ' ' .. message})
end

local function akey(id) return K .. ':agent:' .. id end
local function ckey(id) return K .. ':call:' .. id end
local function okey(id) return K .. ':offer:' .. id end
local function qkey(q, part) return K .. ':q:' .. q .. ':' .. part end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function secs(x) return math.floor(x * 1000 + 0.5) / 1000 end

local function log(event, queue, call, agent, ...)
  redis.call('XADD', K .. ':queue_log', 'MAXLEN', '~', 100000, '*', 'time', NOW,
    'event', event, 'queue', queue or 'NONE', 'call', call or 'NONE', 'agent', agent or 'NONE', ...)
end

local function agent(id)
  local h = hgetall(akey(id))
  if not h.state then fail('unknown-agent', id) end
  h.id = id
  h.queues_in = cjson.decode(h.queues_in or '[]')
  h.skill_map = cjson.decode(h.skills or '{}')
  h.paused_in = cjson.decode(h.paused_in or '{}')
  return h
end

local function check(h, event)
  local nxt = T[h.state .. '|' .. event]
  if not nxt then fail('illegal-transition', h.id .. ' ' .. h.state .. ' ' .. event) end
  return nxt
end

local function move(h, event, ...)
  h.state = check(h, event)
  redis.call('HSET', akey(h.id), 'state', h.state, ...)
end

local function score(h, q)
  local strategy = Q[q].strategy
  if strategy == 'longest_idle' then return h.idle_since end
  if strategy == 'fewest_calls' then return h['calls:' .. q] or 0 end
  return h.order
end

local function index_keys(h, q)
  local keys = {qkey(q, 'avail:*')}
  for skill, level in pairs(h.skill_map) do
    keys[#keys + 1] = qkey(q, 'avail:' .. skill .. ':' .. level)
  end
  return keys
end

-- Index an AVAILABLE agent in each of its queues, except those it is paused in.
local function index(h)
  for _, q in ipairs(h.queues_in) do
    if Q[q] and not h.paused_in[q] then
      local s = score(h, q)
      for _, key in ipairs(index_keys(h, q)) do redis.call('ZADD', key, s, h.id) end
    end
  end
end

local function deindex(h)
  for _, q in ipairs(h.queues_in) do
    for _, key in ipairs(index_keys(h, q)) do redis.call('ZREM', key, h.id) end
  end
end

-- Staffed: logged in and not paused, globally or in that queue.
local function set_staffed(h, on)
  for _, q in ipairs(h.queues_in) do
    if on and not h.paused_in[q] then
      redis.call('SADD', qkey(q, 'staffed'), h.id)
    elseif not on then
      redis.call('SREM', qkey(q, 'staffed'), h.id)
    end
  end
end

-- An agent becomes AVAILABLE through ``event``; ``idle`` (if given) is the new idle-since time.
local function make_available(h, event, idle, ...)
  if idle then h.idle_since = idle end
  move(h, event, 'idle_since', h.idle_since, 'offer', '', 'call', '', ...)
  index(h)
end

local function call(id)
  local c = hgetall(ckey(id))
  if not c.state then fail('unknown-call', id) end
  c.id = id
  return c
end

local function wait_add(c)
  redis.call('ZADD', qkey(c.queue, 'wait'), c.score, c.id)
  redis.call('ZADD', qkey(c.queue, 'wait:' .. c.route), c.score, c.id)
  redis.call('SADD', qkey(c.queue, 'routes'), c.route)
  redis.call('ZADD', qkey(c.queue, 'since'), c.enqueued_at, c.id)
  redis.call('HSET', ckey(c.id), 'state', 'waiting', 'offer', '', 'agent', '')
end

local function wait_rem(c)
  local rank = redis.call('ZRANK', qkey(c.queue, 'wait'), c.id)
  redis.call('ZREM', qkey(c.queue, 'wait'), c.id)
  redis.call('ZREM', qkey(c.queue, 'since'), c.id)
  local route = qkey(c.queue, 'wait:' .. c.route)
  redis.call('ZREM', route, c.id)
  if redis.call('ZCARD', route) == 0 then redis.call('SREM', qkey(c.queue, 'routes'), c.route) end
  return rank and rank + 1 or 0
end

-- Offers are kept per queue by time, so that one no process settles expires (expire.lua).
local function add_offer(oid, q)
  redis.call('ZADD', qkey(q, 'offers'), NOW, oid)
end

local function drop_offer(oid, q)
  redis.call('DEL', okey(oid))
  if q then redis.call('ZREM', qkey(q, 'offers'), oid) end
end

-- Release every agent still ringing for offer ``oid`` (RINGCANCELED); returns their ids.
local function release_offer(oid, except)
  local o = hgetall(okey(oid))
  local released = {}
  for _, aid in ipairs(cjson.decode(o.agents or '[]')) do
    if aid ~= except then
      local h = agent(aid)
      if h.offer == oid then
        make_available(h, 'cancel', nil)
        log('RINGCANCELED', o.queue, o.call, aid, 'ringtime', secs(NOW - tonumber(o.offered_at)))
        released[#released + 1] = aid
      end
    end
  end
  drop_offer(oid, o.queue)
  return released
end

local function stat(q, field, by)
  redis.call('HINCRBYFLOAT', qkey(q, 'stats'), field, by or 1)
end

-- End the agent's part of connected call ``c``: handle-time statistics, then wrap-up.
local function finish(c, h, verb, ...)
  local q = c.queue
  local talk = NOW - tonumber(c.connected_at)
  log(verb, q, c.id, h.id, 'holdtime', secs(tonumber(c.connected_at) - tonumber(c.enqueued_at)),
    'calltime', secs(talk), ...)
  local handle = qkey(q, 'handle')
  redis.call('LPUSH', handle, talk)
  stat(q, 'handle_sum', talk)
  stat(q, 'handle_n', 1)
  if redis.call('LLEN', handle) > HANDLE_CAP then
    stat(q, 'handle_sum', -tonumber(redis.call('RPOP', handle)))
    stat(q, 'handle_n', -1)
  end
  stat(q, 'completed')
  h['calls:' .. q] = (tonumber(h['calls:' .. q]) or 0) + 1
  local wrap = tonumber(h.wrapup_s) or Q[q].wrapup_s
  move(h, 'complete', 'call', '', 'wrapup_call', c.id, 'calls:' .. q, h['calls:' .. q],
    'wrapup_until', NOW + wrap)
  if wrap <= 0 then
    make_available(h, 'wrapup_end', NOW)
    log('WRAPUPEND', q, c.id, h.id)
  else
    redis.call('ZADD', K .. ':wrapup', NOW + wrap, h.id)
  end
  return NOW + wrap
end

-- Agents whose wrap-up has ended become AVAILABLE, idle since the end of their wrap-up.
local function promote()
  for _, aid in ipairs(redis.call('ZRANGEBYSCORE', K .. ':wrapup', '-inf', NOW)) do
    local h = agent(aid)
    if h.state == 'wrap_up' then
      make_available(h, 'wrapup_end', tonumber(h.wrapup_until))
      log('WRAPUPEND', 'NONE', 'NONE', aid)
    end
  end
  redis.call('ZREMRANGEBYSCORE', K .. ':wrapup', '-inf', NOW)
end
