//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/firedrill-dev/firedrill/experiments/cacheflush"
	"github.com/firedrill-dev/firedrill/test/cachetest"
)

// TestBenchCacheFlush (`make bench-cache`): delete 1 M keys by pattern from a real redis-server
// the way CacheFlush does (SCAN + UNLINK in batches) against the naive way (KEYS, then DEL in
// chunks of 10 000, as `redis-cli KEYS … | xargs redis-cli DEL` does), in one run, interleaved.
// Meanwhile a second client sends GETs back to back; its worst latency is the stall an
// application would see. 100 000 other keys stay, and must stay.
func TestBenchCacheFlush(t *testing.T) {
	keys := 1_000_000
	if v := os.Getenv("BENCH_CACHE_KEYS"); v != "" {
		keys, _ = strconv.Atoi(v)
	}
	const others, rounds, batch = 100_000, 3, 500
	srv := cachetest.StartRedis(t)
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	t.Cleanup(func() { _ = c.Close() })
	fill(t, c, "keep", others)

	type result struct {
		took          time.Duration
		worst, p99    time.Duration
		over50, calls int
	}
	ways := []struct {
		name string
		del  func(context.Context) (int64, error)
	}{
		{"SCAN+UNLINK (CacheFlush)", func(ctx context.Context) (int64, error) {
			r, err := cacheflush.DeletePattern(ctx, c, "session:*", batch, 0)
			return r.Affected, err
		}},
		{"KEYS+DEL (naive)", func(ctx context.Context) (int64, error) {
			ks, err := c.Keys(ctx, "session:*").Result()
			if err != nil {
				return 0, err
			}
			var n int64
			for i := 0; i < len(ks); i += 10_000 {
				d, err := c.Del(ctx, ks[i:min(i+10_000, len(ks))]...).Result()
				if err != nil {
					return n, err
				}
				n += d
			}
			return n, nil
		}},
	}
	results := map[string][]result{}
	for round := range rounds {
		for _, w := range ways {
			fill(t, c, "session", keys)
			probe := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Minute})
			pctx, stop := context.WithCancel(ctx)
			lat := make(chan stats, 1)
			go func() { // back-to-back GETs until the deletion ends (bounded by it)
				var s stats
				for i := 0; pctx.Err() == nil; i++ {
					t0 := time.Now()
					if err := probe.Get(pctx, "keep:"+strconv.Itoa(i%others)).Err(); err != nil && pctx.Err() == nil {
						t.Errorf("probe GET: %v", err)
						break
					}
					s = append(s, time.Since(t0))
				}
				lat <- s
			}()
			time.Sleep(50 * time.Millisecond)
			t0 := time.Now()
			n, err := w.del(ctx)
			took := time.Since(t0)
			stop()
			s := <-lat
			_ = probe.Close()
			if err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if n != int64(keys) {
				t.Fatalf("%s removed %d keys, want %d", w.name, n, keys)
			}
			if left := c.DBSize(ctx).Val(); left != others {
				t.Fatalf("%s: %d keys left, want the %d others", w.name, left, others)
			}
			r := result{took: took, worst: s.pct(1), p99: s.pct(0.99), calls: len(s)}
			for _, d := range s {
				if d > 50*time.Millisecond {
					r.over50++
				}
			}
			results[w.name] = append(results[w.name], r)
			fmt.Printf("round %d %-26s %d keys in %7.0f ms; concurrent GETs: %d, worst %6.1f ms, p99 %5.2f ms, %d over 50 ms\n",
				round+1, w.name, n, ms(took), r.calls, ms(r.worst), ms(r.p99), r.over50)
		}
	}
	med := func(rs []result, f func(result) time.Duration) time.Duration {
		s := make(stats, len(rs))
		for i, r := range rs {
			s[i] = f(r)
		}
		return s.pct(0.5)
	}
	ours, naive := results[ways[0].name], results[ways[1].name]
	took := func(r result) time.Duration { return r.took }
	worst := func(r result) time.Duration { return r.worst }
	fmt.Printf("\n%d keys by pattern, median of %d rounds:\n", keys, rounds)
	fmt.Printf("  %-26s duration %7.0f ms, worst client stall %6.1f ms\n", ways[0].name, ms(med(ours, took)), ms(med(ours, worst)))
	fmt.Printf("  %-26s duration %7.0f ms, worst client stall %6.1f ms\n", ways[1].name, ms(med(naive, took)), ms(med(naive, worst)))
	fmt.Printf("  ratio naive/CacheFlush: duration %.2fx, worst stall %.1fx (target: no stall over 50 ms)\n",
		float64(med(naive, took))/float64(med(ours, took)), float64(med(naive, worst))/float64(med(ours, worst)))
}

// fill writes n keys prefix:0..n-1 with 32-byte values: 1000 per MSET, 50 MSETs per pipeline.
func fill(t *testing.T, c *redis.Client, prefix string, n int) {
	t.Helper()
	const v = "v-0123456789abcdef0123456789abcd"
	p := c.Pipeline()
	for i := 0; i < n; i += 1000 {
		args := make([]any, 0, 2000)
		for j := i; j < min(i+1000, n); j++ {
			args = append(args, prefix+":"+strconv.Itoa(j), v)
		}
		p.MSet(t.Context(), args...)
		if p.Len() == 50 || i+1000 >= n {
			if _, err := p.Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
