-- KEYS: open-batch pointer, the job's batch list; ARGV: the job's message id.
-- Closes the job's batch to further messages (if still open) and answers the list.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('LRANGE', KEYS[2], 0, -1)
