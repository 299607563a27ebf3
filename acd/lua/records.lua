-- The ARI adapter's record writes (acd/records.py), from args[first] on. Per record: its key,
-- its TTL in seconds (0: delete it), "1" to write it whole or "0" to update it only if it still
-- exists, the number of fields, then field, value pairs.
local function save_records(args, first)
  local at = first
  while at <= #args do
    local key, ttl, whole, n = args[at], tonumber(args[at + 1]), args[at + 2] == '1',
      tonumber(args[at + 3])
    local lo, hi = at + 4, at + 3 + 2 * n
    at = hi + 1
    if ttl == 0 then
      redis.call('DEL', key)
    elseif whole or redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, unpack(args, lo, hi))
      redis.call('EXPIRE', key, ttl)
    end
  end
end
