//! The one Lua script: a worker's results. Run atomically by the broker, it acknowledges each
//! input and announces its result only if the input was still unacknowledged, so whichever run
//! of an input answers first is its one result and later runs (after a takeover) are dropped.

/// `KEYS[1]` the input stream, `KEYS[2]` the result stream; `ARGV[1]` the consumer group,
/// `ARGV[2]` the result stream's TTL in milliseconds, then pairs of (input entry id, encoded
/// result). Acknowledges and deletes each input that is still pending and appends its result;
/// returns how many results were stored.
pub const STORE_RESULTS: &str = r"
local stored = 0
for i = 3, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('XADD', KEYS[2], '*', 'r', ARGV[i + 1])
    stored = stored + 1
  end
end
if stored > 0 and redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return stored
";
