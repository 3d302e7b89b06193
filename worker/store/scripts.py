"""The job store's state transitions, each one Lua script: Redis runs a script whole, so the
API's cancel and a worker's claim can never both win, and two submissions with one
Idempotency-Key can never both create a job.

A few scripts read keys named inside a record (the job an Idempotency-Key points to, the
records in a dataset's users set). That is fine on one Redis server, which is what the service
runs on (the embedded one or ``DESCENT_REDIS_URL``); it would not be on a Redis Cluster.
"""

from __future__ import annotations

import redis
from redis.commands.core import Script

# KEYS: job, counts; ARGV: now (ISO), worker pid
CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status == 'queued' or status == 'running' then
  if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
    redis.call('HINCRBY', KEYS[2], 'queued', -1)
    redis.call('HINCRBY', KEYS[2], 'running', 1)
  end
  redis.call('HSET', KEYS[1], 'worker_pid', ARGV[2], 'alive_at', ARGV[1])
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  local job = redis.call('HMGET', KEYS[1], 'spec', 'time_limit_s')
  return {'run', tostring(attempts), job[1], job[2]}
end
return {'done', status}
"""

# KEYS: job, index, counts, sequence, idempotency key (the job key when there is none), the
# broker queue's list (the job key when there is no message), then (dataset, dataset users)
# pairs for the datasets the job names;
# ARGV: ttl, job id, body hash ('' without an Idempotency-Key), the job key prefix, the broker
# message ('' for none: the caller publishes it), then the record's field/value pairs.
# An Idempotency-Key that points to a job still there (and queued, not abandoned because the
# broker refused it) answers that job, whole, in this same round trip: there is no moment at
# which the key names a job whose record does not exist yet. A key whose job is gone (deleted,
# expired) or was never queued is free again.
CREATE = """
if ARGV[3] ~= '' then
  local stored = redis.call('GET', KEYS[5])
  if stored then
    local hash, id = string.match(stored, '^(%S*) (%S+)$')
    local existing = ARGV[4] .. (id or '')
    if id and redis.call('EXISTS', existing) == 1
        and redis.call('HGET', existing, 'unqueued') ~= '1' then
      if hash ~= ARGV[3] then return {'conflict'} end
      return {'existing', redis.call('HGETALL', existing)}
    end
  end
end
for i = 7, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {'no_dataset', KEYS[i]} end
end
local sequence = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'sequence', sequence, unpack(ARGV, 6))
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'idempotency', KEYS[5])
  redis.call('SET', KEYS[5], ARGV[3] .. ' ' .. ARGV[2], 'EX', ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], sequence, ARGV[2])
redis.call('HINCRBY', KEYS[3], 'queued', 1)
for i = 8, #KEYS, 2 do
  redis.call('SADD', KEYS[i], KEYS[1])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
if ARGV[5] ~= '' then redis.call('LPUSH', KEYS[6], ARGV[5]) end
return {'created', tostring(sequence)}
"""

# KEYS: job, counts, finished channel; ARGV: now (ISO), ttl
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1], 'cancel', '1')
  redis.call('HINCRBY', KEYS[2], 'queued', -1)
  redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('PUBLISH', KEYS[3], 'cancelled')
  return 'cancelled_now'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return 'cancelling'
end
return status
"""

# KEYS: job, result; ARGV: owner ('' for any), the owner index prefix.
# Removes a finished job for good: its record, its result, its place in the owner's list and
# its Idempotency-Key. An unfinished job is left alone (the answer is its status).
DELETE = """
local record = redis.call('HMGET', KEYS[1], 'status', 'owner', 'id', 'idempotency')
local status, owner, id, idempotency = record[1], record[2], record[3], record[4]
if not status or (ARGV[1] ~= '' and owner ~= ARGV[1]) then return 'missing' end
if status == 'queued' or status == 'running' then return status end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', ARGV[2] .. owner, id)
if idempotency then
  local stored = redis.call('GET', idempotency)
  if stored and string.sub(stored, -string.len(id)) == id then
    redis.call('DEL', idempotency)
  end
end
return 'deleted'
"""

# KEYS: job, result, counts, runtime, finished channel;
# ARGV: status, finished_at, summary, error, ttl, has_result ('1'/'0'), result bytes, layout,
# run seconds, histogram bucket field, job id, final progress ('' for none)
FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[12]) end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'summary', ARGV[3],
           'error', ARGV[4], 'has_result', ARGV[6], 'layout', ARGV[8])
redis.call('HINCRBY', KEYS[3], status, -1)
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[5])
end
redis.call('PUBLISH', KEYS[5], ARGV[1])
redis.call('HINCRBYFLOAT', KEYS[4], 'sum', ARGV[9])
redis.call('HINCRBY', KEYS[4], 'count', 1)
redis.call('HINCRBY', KEYS[4], ARGV[10], 1)
return 1
"""

# KEYS: result; ARGV: row size, then row numbers. One server-side gather of the rows shown.
GATHER = """
local size = tonumber(ARGV[1])
local rows = {}
for i = 2, #ARGV do
  local offset = tonumber(ARGV[i]) * size
  rows[#rows + 1] = redis.call('GETRANGE', KEYS[1], offset, offset + size - 1)
end
return table.concat(rows)
"""

# KEYS: dataset, dataset users; ARGV: owner ('' for any).
# A dataset that a queued or running job or sweep names is kept (the answer lists their record
# keys); otherwise it goes, with its users set. Finished users are dropped from the set.
DELETE_DATASET = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or (ARGV[1] ~= '' and owner ~= ARGV[1]) then return {'missing'} end
local busy = {}
for _, record in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local status = redis.call('HGET', record, 'status')
  if status == 'queued' or status == 'running' then
    busy[#busy + 1] = record
  else
    redis.call('SREM', KEYS[2], record)
  end
end
if #busy > 0 then return {'in_use', unpack(busy)} end
redis.call('DEL', KEYS[1], KEYS[2])
return {'deleted'}
"""


class JobScripts:
    """The scripts above, registered with one client (each call sends only its SHA)."""

    def __init__(self, client: redis.Redis) -> None:
        self.claim: Script = client.register_script(CLAIM)
        self.create: Script = client.register_script(CREATE)
        self.cancel: Script = client.register_script(CANCEL)
        self.delete: Script = client.register_script(DELETE)
        self.finish: Script = client.register_script(FINISH)
        self.gather: Script = client.register_script(GATHER)
        self.delete_dataset: Script = client.register_script(DELETE_DATASET)


class StoreBase:
    """What every part of the job store (records, results, liveness, metrics) works with."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.scripts = JobScripts(client)
