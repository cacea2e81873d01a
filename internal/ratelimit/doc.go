// Package ratelimit limits the rate of requests per key, typically one key
// per tenant, with GCRA, the generic cell rate algorithm: a key's state is a
// single number, its theoretical arrival time (TAT), and a Limit allows a
// burst of Burst requests at once and then one request every 1/Rate seconds.
//
// Local keeps the state in process, in sharded maps swept of idle keys; Redis
// keeps it in Redis, computed by one Lua script on the server's clock, so that
// a limit holds across server instances whose clocks disagree. When Redis
// cannot answer, Redis decides by its fail mode and says so in
// Result.Degraded and in an error wrapping ErrBackend. WriteHeaders reports a
// Result to HTTP clients.
package ratelimit
