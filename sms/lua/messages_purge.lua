-- KEYS: a list of message JSON, oldest first, each with 'at' and 'body'.
-- ARGV: cutoff (epoch seconds), mode: 'drop' removes the messages older than the cutoff,
-- 'blank' empties their bodies and keeps their places (indexes name them elsewhere).
-- Returns how many bodies went.
local n = 0
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, raw in ipairs(items) do
  local message = cjson.decode(raw)
  if tonumber(message.at) >= tonumber(ARGV[1]) then break end
  if ARGV[2] == 'drop' then
    redis.call('LPOP', KEYS[1])
    n = n + 1
  elseif message.body ~= '' then
    message.body = ''
    redis.call('LSET', KEYS[1], i - 1, cjson.encode(message))
    n = n + 1
  end
end
return n
