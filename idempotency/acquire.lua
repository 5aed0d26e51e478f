-- KEYS[1] attempt key; ARGV: fingerprint, owner, lease ms, ttl ms
-- Returns the record (HGETALL form) with fence > 0 when the lease was taken, fence "0" for a terminal record.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'state', 'reserved', 'fp', ARGV[1], 'fence', 1, 'owner', ARGV[2],
    'lease_until', now + lease, 'submits', 0, 'created_at', now, 'updated_at', now)
  redis.call('PEXPIRE', key, ARGV[4])
  return redis.call('HGETALL', key)
end
local rec = redis.call('HMGET', key, 'fp', 'state', 'owner', 'lease_until')
if rec[1] ~= ARGV[1] then
  return redis.error_reply('CONFLICT')
end
if rec[2] == 'terminal' then
  local out = redis.call('HGETALL', key)
  for i = 1, #out, 2 do
    if out[i] == 'fence' then out[i + 1] = '0' end
  end
  return out
end
if rec[3] ~= ARGV[2] and tonumber(rec[4] or '0') > now then
  return redis.error_reply('BUSY')
end
redis.call('HINCRBY', key, 'fence', 1)
redis.call('HSET', key, 'owner', ARGV[2], 'lease_until', now + lease, 'updated_at', now)
redis.call('PEXPIRE', key, ARGV[4])
return redis.call('HGETALL', key)
