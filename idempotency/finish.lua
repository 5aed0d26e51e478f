-- KEYS[1] attempt key
-- ARGV: fingerprint, owner, ttl ms, chain, outcome, outcome_data
-- Acquire and a move submitted -> terminal in one call, for the tracking chain ARGV[4]: the
-- attempt must be submitted under that chain, with no other owner's live lease. The lease is
-- taken (fence + 1) and released with the move. Returns the record (HGETALL form).
local key = KEYS[1]
local rec = redis.call('HMGET', key, 'fp', 'state', 'owner', 'lease_until', 'chain')
if not rec[2] then
  return redis.error_reply('STATE missing')
end
if rec[1] ~= ARGV[1] then
  return redis.error_reply('CONFLICT')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if rec[2] ~= 'submitted' then
  return redis.error_reply('STATE ' .. rec[2])
end
if (rec[5] or '0') ~= ARGV[4] then
  return redis.error_reply('STATE submitted under chain ' .. (rec[5] or '0'))
end
if rec[3] ~= ARGV[2] and tonumber(rec[4] or '0') > now then
  return redis.error_reply('BUSY')
end
redis.call('HINCRBY', key, 'fence', 1)
redis.call('HSET', key, 'state', 'terminal', 'owner', ARGV[2], 'lease_until', 0, 'updated_at', now,
  'outcome', ARGV[5], 'outcome_data', ARGV[6])
redis.call('PEXPIRE', key, ARGV[3])
return redis.call('HGETALL', key)
