package cluster

import "github.com/redis/go-redis/v9"

// Layout, under the prefix P:
//
//	P seeded          exists once the counters were loaded from the store (see Budgets.Seed)
//	P k:<budget>      hash: t bt (total, BYOK total); ds d bd, ws w bw, ms m bm (start of the
//	                  day, week and month counted, in unix seconds, and their spend and BYOK);
//	                  r (reserved by requests in flight)
//	P k:<budget>:res  sorted set of reservations "<id>:<amount>", scored by expiry (unix ms)
//	P o:<org>         hash: c (credits), u (used), r (reserved)
//	P o:<org>:res     as for keys
//
// Amounts are integer nanodollars. Redis adds them exactly (HINCRBY is 64-bit); Lua numbers
// are doubles, exact to 2^53 nanodollars ($9M), and are used only to compare, never to store.
// Negative increments are passed as strings so that they never go through a Lua number.

// expireLua releases the reservations of requests whose replica died holding them. It is
// shared by the scripts that read reservations.
const expireLua = `
local function expire(hash, zset, now)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
  if #gone == 0 then return end
  local sum = 0
  for _, m in ipairs(gone) do sum = sum + tonumber(string.match(m, ':(%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', now)
  if sum > 0 then redis.call('HINCRBY', hash, 'r', string.format('%.0f', -sum)) end
end
`

// reserveScript admits a request and reserves its estimate, atomically for every replica.
//
// KEYS: seeded, key hash, key reservations, org hash, org reservations.
// ARGV: now (unix ms), expiry (unix ms), member, estimate, has limit (0/1), limit, reset
// period (0 none, 1 day, 2 week, 3 month), limit counts BYOK (0/1), require credits (0/1),
// current day, week and month starts (unix s).
//
// Returns {reason, used, limit, the key hash fields t bt ds d bd ws w bw ms m bm, the org
// fields c u}; reason 0 admitted, 1 key limit, 2 no credits, -1 the counters were never
// seeded. used and limit describe the refusing budget.
var reserveScript = redis.NewScript(expireLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = ARGV[1]
expire(KEYS[2], KEYS[3], now)
expire(KEYS[4], KEYS[5], now)
local k = redis.call('HMGET', KEYS[2], 't', 'bt', 'ds', 'd', 'bd', 'ws', 'w', 'bw', 'ms', 'm', 'bm', 'r')
local o = redis.call('HMGET', KEYS[4], 'c', 'u', 'r')
local function n(v) return tonumber(v) or 0 end
local reason, used, limit = 0, 0, 0
if ARGV[5] == '1' then
  local spent, byok = n(k[1]), n(k[2])
  local p = tonumber(ARGV[7])
  if p > 0 then
    local at = 3 * p
    spent, byok = 0, 0
    if k[at] == ARGV[9 + p] then spent, byok = n(k[at + 1]), n(k[at + 2]) end
  end
  if ARGV[8] == '1' then spent = spent + byok end
  used, limit = spent + n(k[12]), tonumber(ARGV[6])
  if limit - used <= 0 then reason = 1 end
end
if reason == 0 and ARGV[9] == '1' then
  used, limit = n(o[2]) + n(o[3]), n(o[1])
  if limit - used <= 0 then reason = 2 end
end
if reason == 0 then
  redis.call('HINCRBY', KEYS[2], 'r', ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
  redis.call('HINCRBY', KEYS[4], 'r', ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
end
return {reason, string.format('%.0f', used), string.format('%.0f', limit),
  k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11], o[1], o[2]}
`)

// settleScript charges finished requests of one key budget admitted in the same periods, and
// releases their reservations (those not expired yet). A charge for a period that has already
// rolled over counts in the totals only, as the Ledger does.
//
// KEYS: seeded, key hash, key reservations, org hash, org reservations, the batch's done
// marker (a set of the indexes of its groups already applied).
// ARGV: cost, BYOK cost, the day, week and month starts of the requests (unix s), the group's
// index in its batch, the marker's lifetime (s), then pairs of reservation member and its
// negated amount.
//
// A group is applied at most once: resent after its answer was lost, it finds its index in
// the marker and returns 2. Without the seeded marker (Redis lost its data) it changes
// nothing and returns 0: reconciliation counts these requests once their records are stored.
var settleScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SADD', KEYS[6], ARGV[6]) == 0 then return 2 end
redis.call('EXPIRE', KEYS[6], ARGV[7])
for i = 8, #ARGV, 2 do
  if redis.call('ZREM', KEYS[3], ARGV[i]) == 1 then redis.call('HINCRBY', KEYS[2], 'r', ARGV[i + 1]) end
  if redis.call('ZREM', KEYS[5], ARGV[i]) == 1 then redis.call('HINCRBY', KEYS[4], 'r', ARGV[i + 1]) end
end
local cost, byok = ARGV[1], ARGV[2]
redis.call('HINCRBY', KEYS[2], 't', cost)
redis.call('HINCRBY', KEYS[2], 'bt', byok)
local fields = {{'ds', 'd', 'bd'}, {'ws', 'w', 'bw'}, {'ms', 'm', 'bm'}}
for i = 1, 3 do
  local f, at = fields[i], ARGV[2 + i]
  local cur = redis.call('HGET', KEYS[2], f[1])
  if cur == at then
    redis.call('HINCRBY', KEYS[2], f[2], cost)
    redis.call('HINCRBY', KEYS[2], f[3], byok)
  elseif (not cur) or tonumber(cur) < tonumber(at) then
    redis.call('HSET', KEYS[2], f[1], at, f[2], cost, f[3], byok)
  end
end
redis.call('HINCRBY', KEYS[4], 'u', cost)
return 1
`)

// loadScript raises the counters to what the store holds: each spend to the larger of its
// value in Redis and in the store (the store can lag, never lead: its records arrive after
// their settlement), a period that the store shows to have started later replaced, and each
// organization's credits set to the store's total. Seeding an empty Redis is the same with
// nothing to compare against.
//
// KEYS: seeded. ARGV: the prefix, the mode ("seed" writes without the marker, which the seeder
// sets once every chunk is in; "reconcile" requires it), then records: "k", budget, t, bt, ds,
// d, bd, ws, w, bw, ms, m, bm; or "o", org, c, u. Returns 0 when reconciling unseeded counters.
var loadScript = redis.NewScript(`
if ARGV[2] ~= 'seed' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function raise(h, f, v)
  if tonumber(redis.call('HGET', h, f) or '0') < tonumber(v) then redis.call('HSET', h, f, v) end
end
local periods = {{'ds', 'd', 'bd'}, {'ws', 'w', 'bw'}, {'ms', 'm', 'bm'}}
local p, i = ARGV[1], 3
while i <= #ARGV do
  if ARGV[i] == 'k' then
    local h = p .. 'k:' .. ARGV[i + 1]
    raise(h, 't', ARGV[i + 2])
    raise(h, 'bt', ARGV[i + 3])
    for j = 1, 3 do
      local f, at = periods[j], i + 1 + 3 * j
      local cur = redis.call('HGET', h, f[1])
      if cur == ARGV[at] then
        raise(h, f[2], ARGV[at + 1])
        raise(h, f[3], ARGV[at + 2])
      elseif (not cur) or tonumber(cur) < tonumber(ARGV[at]) then
        redis.call('HSET', h, f[1], ARGV[at], f[2], ARGV[at + 1], f[3], ARGV[at + 2])
      end
    end
    i = i + 13
  else
    local h = p .. 'o:' .. ARGV[i + 1]
    redis.call('HSET', h, 'c', ARGV[i + 2])
    raise(h, 'u', ARGV[i + 3])
    i = i + 4
  end
end
return 1
`)

// unlockScript deletes a lock key if this replica holds it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// creditsScript raises organizations' credits to the totals given (ARGV pairs of org and total
// after the prefix) and never lowers them: grants only add, so the larger of two totals is the
// later one. Unseeded counters are left for the seed, which reads the store's totals.
var creditsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local key, total = p .. 'o:' .. ARGV[i], tonumber(ARGV[i + 1])
  if total > tonumber(redis.call('HGET', key, 'c') or '0') then
    redis.call('HSET', key, 'c', ARGV[i + 1])
  end
end
return 1
`)
