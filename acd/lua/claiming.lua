-- claim(q, draw): offer queue q's best waiting call that has an eligible agent (``draw`` in
-- [0, 1) picks for the random strategy). Returns the offer ({offer, call, agents, offered_at,
-- more}: other calls still wait), or false. Shared by claim.lua and enqueue.lua.
local function claim(q, draw)
  promote()
  local cfg = Q[q]
  local strategy = cfg.strategy

  local function min_level(waited)
    local rules = cfg.widening
    if #rules == 0 then return 1 end
    local level = rules[1][2]
    for _, rule in ipairs(rules) do
      if waited >= rule[1] then level = rule[2] end
    end
    return level
  end

  local function keys_for(route, waited)
    if route == '*' then return {qkey(q, 'avail:*')} end
    local keys = {}
    for level = min_level(waited), LEVELS do keys[#keys + 1] = qkey(q, 'avail:' .. route .. ':' .. level) end
    return keys
  end

  local last = tonumber(redis.call('GET', qkey(q, 'rr')) or '-1')

  -- The best agent among the heads of the index sets: {rank tuple..., id}, or nil.
  local function best(keys)
    if strategy == 'random' then
      local sizes, total = {}, 0
      for i, key in ipairs(keys) do sizes[i] = redis.call('ZCARD', key); total = total + sizes[i] end
      if total == 0 then return nil end
      local pick = math.min(total - 1, math.floor(tonumber(draw) * total))
      for i, key in ipairs(keys) do
        if pick < sizes[i] then return {0, 0, redis.call('ZRANGE', key, pick, pick)[1]} end
        pick = pick - sizes[i]
      end
    end
    local found
    for _, key in ipairs(keys) do
      local head, wrapped = {}, 0
      if strategy == 'round_robin' then
        head = redis.call('ZRANGEBYSCORE', key, '(' .. last, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      end
      if #head == 0 then
        head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        if strategy == 'round_robin' then wrapped = 1 end
      end
      if #head > 0 then
        local c = {wrapped, tonumber(head[2]), head[1]}
        if not found or c[1] < found[1] or (c[1] == found[1] and (c[2] < found[2]
            or (c[2] == found[2] and c[3] < found[3]))) then
          found = c
        end
      end
    end
    return found
  end

  -- The best (lowest score) route head that an agent can take.
  local chosen
  for _, route in ipairs(redis.call('SMEMBERS', qkey(q, 'routes'))) do
    local head = redis.call('ZRANGE', qkey(q, 'wait:' .. route), 0, 0, 'WITHSCORES')
    if #head > 0 and (not chosen or tonumber(head[2]) < chosen.score
        or (tonumber(head[2]) == chosen.score and head[1] < chosen.id)) then
      local waited = NOW - tonumber(redis.call('HGET', ckey(head[1]), 'enqueued_at'))
      local keys = keys_for(route, waited)
      local agent_rank = best(keys)
      if agent_rank then
        chosen = {id = head[1], score = tonumber(head[2]), keys = keys, agent = agent_rank[3]}
      end
    end
  end
  if not chosen then return false end

  local agents = {chosen.agent}
  if strategy == 'ring_all' then
    agents = {}
    local seen = {}
    for _, key in ipairs(chosen.keys) do
      for _, aid in ipairs(redis.call('ZRANGE', key, 0, -1)) do
        if not seen[aid] then seen[aid] = true; agents[#agents + 1] = aid end
      end
    end
  end

  local c = call(chosen.id)
  local oid = 'o' .. redis.call('INCR', K .. ':seq')
  wait_rem(c)
  redis.call('HSET', ckey(c.id), 'state', 'offered', 'offer', oid)
  redis.call('HSET', okey(oid), 'call', c.id, 'queue', q, 'offered_at', NOW,
    'agents', cjson.encode(agents))
  add_offer(oid, q)
  local out = {}
  for _, aid in ipairs(agents) do
    local h = agent(aid)
    deindex(h)
    move(h, 'offer', 'offer', oid)
    if strategy == 'round_robin' then redis.call('SET', qkey(q, 'rr'), h.order) end
    log('OFFER', q, c.id, aid, 'offer', oid)
    out[#out + 1] = {id = aid, device_kind = h.device_kind, device = h.device,
      auto_answer = h.auto_answer}
  end
  c.state = 'offered'
  return {offer = oid, call = c, agents = out, offered_at = NOW,
    more = redis.call('ZCARD', qkey(q, 'wait')) > 0}
end
