package cacheflush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// DialRedis connects and checks that the server answers as Redis, with errors that say what is
// wrong (unreachable, credentials refused, not Redis) and never carry the credentials.
func dialRedis(ctx context.Context, e endpoint) (*redis.Client, error) {
	c := redis.NewClient(&redis.Options{
		Addr: e.addr, Username: e.username, Password: e.password, DB: e.db, TLSConfig: e.tls,
		DialTimeout: e.timeout, ReadTimeout: e.timeout, WriteTimeout: e.timeout,
		// RESP2 and no CLIENT SETINFO: the fewest commands an ACL user must be allowed.
		Protocol: 2, DisableIdentity: true,
		// A flush is not retried blindly: the engine decides what to do again.
		MaxRetries: -1, PoolSize: 2,
	})
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close() // the connection failed; its close error adds nothing
		return nil, redisError(e, "PING", err)
	}
	return c, nil
}

// redisError turns a client error into a message naming the server and what to fix.
func redisError(e endpoint, what string, err error) error {
	msg := err.Error()
	var re redis.Error
	isRedis := errors.As(err, &re)
	switch {
	case isRedis && (strings.HasPrefix(msg, "WRONGPASS") || strings.Contains(msg, "invalid password") || strings.Contains(msg, "invalid username-password")):
		return fmt.Errorf("Redis at %s refused the credentials from Secret %s (user %q): %s", e.addr, e.credsFrom, userOrDefault(e.username), msg)
	case isRedis && strings.HasPrefix(msg, "NOAUTH"):
		return fmt.Errorf("Redis at %s requires authentication: set spec.cacheFlush.credentialsSecretName (%s)", e.addr, msg)
	case isRedis && strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("Redis at %s: user %q may not run %s: %s", e.addr, userOrDefault(e.username), what, msg)
	case isRedis:
		return fmt.Errorf("Redis at %s: %s: %s", e.addr, what, msg)
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:"):
		return fmt.Errorf("TLS to Redis at %s failed: %s", e.addr, msg)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("the server at %s closed the connection during %s: does it need spec.cacheFlush.tls, or is it not Redis? (%w)", e.addr, what, err)
	case unreachable(err):
		return fmt.Errorf("%s Redis at %s: %w", msgUnreachable, e.addr, err)
	case strings.Contains(msg, "invalid reply") || strings.Contains(msg, "can't parse"):
		return fmt.Errorf("the server at %s did not answer as Redis (%s): is spec.cacheFlush.engine right?", e.addr, msg)
	}
	return fmt.Errorf("Redis at %s: %s: %s", e.addr, what, msg)
}

func userOrDefault(u string) string {
	if u == "" {
		return "default"
	}
	return u
}

// redisInfo is what the status records of a Redis server, and what the checks need.
type redisInfo struct {
	version       string
	role          string
	usedMemory    int64
	hits, misses  int64
	lazyfreePend  int64
	keysPerDB     map[int]int64
	replicaOfHost string
	majorVersion  int
	// cluster: the server runs in Redis Cluster mode (cluster_enabled:1).
	cluster bool
}

func (i redisInfo) keys(db int) int64 { return i.keysPerDB[db] }

func (i redisInfo) allKeys() int64 {
	var n int64
	for _, k := range i.keysPerDB {
		n += k
	}
	return n
}

func readRedisInfo(ctx context.Context, e endpoint, c *redis.Client) (redisInfo, error) {
	// INFO without a section: its default sections hold all of these, and Redis before 7
	// takes one section at most.
	s, err := c.Info(ctx).Result()
	if err != nil {
		return redisInfo{}, redisError(e, "INFO", err)
	}
	return parseRedisInfo(s), nil
}

// parseRedisInfo reads the fields of INFO's "key:value" lines that a flush is judged by.
func parseRedisInfo(s string) redisInfo {
	out := redisInfo{keysPerDB: map[int]int64{}}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64) // non-numeric fields are read as strings below
		switch {
		case k == "redis_version":
			out.version = v
			out.majorVersion, _ = strconv.Atoi(strings.SplitN(v, ".", 2)[0])
		case k == "role":
			out.role = v
		case k == "master_host":
			out.replicaOfHost = v
		case k == "cluster_enabled":
			out.cluster = n == 1
		case k == "used_memory":
			out.usedMemory = n
		case k == "keyspace_hits":
			out.hits = n
		case k == "keyspace_misses":
			out.misses = n
		case k == "lazyfree_pending_objects":
			out.lazyfreePend = n
		case strings.HasPrefix(k, "db"):
			db, err := strconv.Atoi(k[2:])
			if err != nil {
				continue
			}
			for _, f := range strings.Split(v, ",") {
				if fk, fv, ok := strings.Cut(f, "="); ok && fk == "keys" {
					out.keysPerDB[db], _ = strconv.ParseInt(fv, 10, 64)
				}
			}
		}
	}
	return out
}

// PatternResult is what a pattern pass did.
type PatternResult struct {
	// Matched is the keys the scan handed over (up to the cap); Affected the keys removed or
	// given a TTL.
	Matched, Affected int64
	Capped            bool
}

// scanPattern hands the keys matching pattern to fn, batch by batch, up to maxKeys (0: no cap).
// SCAN never blocks the server the way KEYS does; it may return a key twice, which the
// operations below tolerate.
func scanPattern(ctx context.Context, c *redis.Client, pattern string, batch int, maxKeys int64, fn func([]string) error) (int64, bool, error) {
	var cursor uint64
	var seen int64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, int64(batch)).Result()
		if err != nil {
			return seen, false, err
		}
		if maxKeys > 0 && seen+int64(len(keys)) > maxKeys {
			keys = keys[:maxKeys-seen]
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return seen, false, err
			}
			seen += int64(len(keys))
		}
		if maxKeys > 0 && seen >= maxKeys {
			return seen, next != 0, nil
		}
		if next == 0 {
			return seen, false, nil
		}
		cursor = next
	}
}

// DeletePattern unlinks the keys matching pattern in batches of batch keys (SCAN + UNLINK): each
// command holds the server for one batch only, so concurrent clients never wait behind the
// whole deletion. maxKeys (0: none) caps the keys handed to UNLINK.
func DeletePattern(ctx context.Context, c *redis.Client, pattern string, batch int, maxKeys int64) (PatternResult, error) {
	return deletePattern(ctx, c, pattern, batch, maxKeys, func() {})
}

// deletePattern is DeletePattern, calling sending before each UNLINK.
func deletePattern(ctx context.Context, c *redis.Client, pattern string, batch int, maxKeys int64, sending func()) (PatternResult, error) {
	var res PatternResult
	seen, capped, err := scanPattern(ctx, c, pattern, batch, maxKeys, func(keys []string) error {
		sending()
		n, err := c.Unlink(ctx, keys...).Result()
		res.Affected += n
		return err
	})
	res.Matched, res.Capped = seen, capped
	return res, err
}

// unlinkKeys removes exactly these keys (the snapshot's), batch by batch.
func unlinkKeys(ctx context.Context, c *redis.Client, keys []string, batch int) (int64, error) {
	var removed int64
	for i := 0; i < len(keys); i += batch {
		n, err := c.Unlink(ctx, keys[i:min(i+batch, len(keys))]...).Result()
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// Expiry is the TTL spread of a mass expiry.
type Expiry struct {
	TTL, Jitter time.Duration
	// LT sets a TTL only where it shortens the key's life (Redis 7); a key due to expire sooner
	// keeps its own.
	LT bool
}

func (x Expiry) next() time.Duration {
	d := x.TTL
	if x.Jitter > 0 {
		d += rand.N(x.Jitter) //nolint:gosec // a spread of expiries, not a secret
	}
	return max(d, time.Millisecond)
}

func (x Expiry) pexpire(ctx context.Context, p redis.Pipeliner, key string) *redis.Cmd {
	args := []any{"PEXPIRE", key, x.next().Milliseconds()}
	if x.LT {
		args = append(args, "LT")
	}
	return p.Do(ctx, args...)
}

// expireKeys gives each key a TTL of x, one pipeline per batch, and counts the keys it set.
func expireKeys(ctx context.Context, c *redis.Client, keys []string, x Expiry) (int64, error) {
	p := c.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		cmds[i] = x.pexpire(ctx, p, k)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var n int64
	for _, cmd := range cmds {
		if v, err := cmd.Int64(); err == nil {
			n += v
		}
	}
	return n, nil
}

// expirePattern gives the keys matching pattern a TTL spread by x, in batches, calling sending
// before each batch of PEXPIRE.
func expirePattern(ctx context.Context, c *redis.Client, pattern string, batch int, maxKeys int64, x Expiry, sending func()) (PatternResult, error) {
	var res PatternResult
	seen, capped, err := scanPattern(ctx, c, pattern, batch, maxKeys, func(keys []string) error {
		sending()
		n, err := expireKeys(ctx, c, keys, x)
		res.Affected += n
		return err
	})
	res.Matched, res.Capped = seen, capped
	return res, err
}

// awaitLazyFree waits (up to limit) for the server to finish freeing what UNLINK and FLUSH ASYNC
// handed to its background thread, so that used_memory afterwards says what was freed.
func awaitLazyFree(ctx context.Context, e endpoint, c *redis.Client, limit time.Duration) (redisInfo, error) {
	deadline := time.Now().Add(limit)
	for {
		info, err := readRedisInfo(ctx, e, c)
		if err != nil || info.lazyfreePend == 0 || time.Now().After(deadline) {
			return info, err
		}
		select {
		case <-ctx.Done():
			return info, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
