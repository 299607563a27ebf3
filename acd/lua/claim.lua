-- claim: offer the queue's best waiting call that has an eligible agent (claiming.lua).
-- A = {queue, draw}. Returns the offer as JSON (``more``: other calls still wait), or false.
local offer = claim(A.queue, A.draw)
if not offer then return false end
return cjson.encode(offer)
