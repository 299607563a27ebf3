-- KEYS: the RQ queue list, this job's batch list, the open-batch pointer.
-- ARGV: RQ's job key prefix, our job id prefix, how many jobs at most, a fresh job's
--       retries_left, the batch list key prefix, the batch list's ttl.
-- Takes the send jobs at the head of the RQ queue that never failed (their retries intact)
-- into this job's batch: each job's message and the messages batched behind it. The jobs are
-- gone (id and hash) in the same step, so each message is in exactly one place. Stops at the
-- first other job. Returns the message ids taken, in queue order.
local taken = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
  if string.sub(id, 1, #ARGV[2]) ~= ARGV[2] then break end
  local job = ARGV[1] .. id
  local left = redis.call('HGET', job, 'retries_left') or '0'
  if tonumber(left) ~= tonumber(ARGV[4]) then break end
  local message = string.sub(id, #ARGV[2] + 1)
  local behind = ARGV[5] .. message
  if redis.call('GET', KEYS[3]) == message then redis.call('DEL', KEYS[3]) end
  redis.call('LPOP', KEYS[1])
  redis.call('DEL', job)
  taken[#taken + 1] = message
  for _, other in ipairs(redis.call('LRANGE', behind, 0, -1)) do taken[#taken + 1] = other end
  redis.call('DEL', behind)
end
if #taken > 0 then
  redis.call('RPUSH', KEYS[2], unpack(taken))
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
return taken
