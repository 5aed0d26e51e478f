-- KEYS[1] attempt key
-- ARGV: fence, to, lease ms, ttl ms, cart_id, chain, outcome, outcome_data, from states...
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'fence', 'state')
if not cur[1] then
  return redis.error_reply('STATE missing')
end
if cur[1] ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
local ok = false
for i = 9, #ARGV do
  if cur[2] == ARGV[i] then ok = true end
end
if not ok then
  return redis.error_reply('STATE ' .. cur[2])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local to = ARGV[2]
local lease_until = now + tonumber(ARGV[3])
if to == 'terminal' then lease_until = 0 end
redis.call('HSET', key, 'state', to, 'lease_until', lease_until, 'updated_at', now)
if ARGV[5] ~= '' then redis.call('HSET', key, 'cart_id', ARGV[5]) end
if ARGV[6] ~= '0' then redis.call('HSET', key, 'chain', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', key, 'outcome', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', key, 'outcome_data', ARGV[8]) end
if to == 'submitting' then redis.call('HINCRBY', key, 'submits', 1) end
redis.call('PEXPIRE', key, ARGV[4])
return redis.call('HGETALL', key)
