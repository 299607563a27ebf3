-- complete: A = {call, agent, by = "caller"|"agent"}, then the adapter's records, written
-- first (even if the call is not connected). Ends a connected call; the agent wraps up; an
-- agent still ringing for a transfer of the call is released. Returns the end of the wrap-up.
save_records(ARGV, 5)
local c = call(A.call)
local h = agent(A.agent)
if c.state ~= 'connected' or c.agent ~= h.id then fail('not-connected', c.id .. ' ' .. h.id) end
check(h, 'complete')
if (c.handover or '') ~= '' then release_offer(c.handover, nil) end  -- a transfer ringing
local until_ = finish(c, h, A.by == 'agent' and 'COMPLETEAGENT' or 'COMPLETECALLER')
redis.call('DEL', ckey(c.id))
return tostring(until_)
