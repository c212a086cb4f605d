//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/cachetest"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// cacheAside is a service reading through a real Redis: a miss is a database query (counted,
// and exported to Prometheus as db_queries_total) and refills the key. It serves rps requests a
// second over keys distinct keys until ctx ends or limit passes: a bounded load.
func cacheAside(ctx context.Context, t *testing.T, c *redis.Client, prom *promtest.Server, job string, keys, rps int, limit time.Duration) {
	var queries atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, limit)
	t.Cleanup(cancel)
	go func() { // the service
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			k := "product:" + strconv.Itoa(rand.IntN(keys))
			if err := c.Get(ctx, k).Err(); err == redis.Nil {
				queries.Add(1) // the database answers, and the value goes back in the cache
				c.Set(ctx, k, "row", 0)
			}
		}
	}()
	go func() { // its metrics, pushed every 250 ms
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				s := promtest.Series{Labels: map[string]string{"__name__": "db_queries_total", "job": job},
					Samples: []promtest.Sample{{T: now, V: float64(queries.Load())}}}
				if err := prom.Write(ctx, s); err != nil && ctx.Err() == nil {
					t.Errorf("remote write: %v", err)
				}
			}
		}
	}()
}

// TestCacheStampedeGameDay is the question CacheFlush exists for: if the cache is emptied, does
// the database behind it stay under its query-rate threshold? Deleting every key at once sends
// the whole read rate to the database, and the hypothesis fails with the measured rate; the same
// keys expiring in a wave spread over 40 s keep it under the threshold.
func TestCacheStampedeGameDay(t *testing.T) {
	prom := promtest.Start(t)
	startManager(t, managerOptions{})
	ns := "cf-stampede"
	mustCreate(t, builder.Namespace(ns))
	const keys, rps, threshold = 3000, 300, 120

	run := func(t *testing.T, name string, spec chaosv1alpha1.CacheFlushSpec) chaosv1alpha1.HypothesisResult {
		srv := cachetest.StartRedis(t)
		c := rdb(t, srv.Addr, 0, "")
		p := c.Pipeline()
		for i := range keys {
			p.Set(t.Context(), "product:"+strconv.Itoa(i), "row", 0)
		}
		if _, err := p.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		cacheAside(t.Context(), t, c, prom, name, keys, rps, time.Minute)
		time.Sleep(3 * time.Second) // a steady state on record: every read a hit
		spec.Address = srv.Addr
		gd := gameDay(ns, name,
			chaosv1alpha1.GameDayStep{Name: "flush", Experiment: &chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionCacheFlush, Mode: chaosv1alpha1.ModeOne, CacheFlush: &spec}},
			pauseStep("watch-the-database", 8*time.Second))
		gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
		gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
		gd.Spec.Hypotheses = []chaosv1alpha1.Hypothesis{{Name: "db-under-threshold",
			PromQL: &chaosv1alpha1.PromQLCheck{Query: fmt.Sprintf(`sum(rate(db_queries_total{job=%q}[3s]))`, name), Operator: "<", Threshold: strconv.Itoa(threshold)}}}
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 60*time.Second, func(g *chaosv1alpha1.GameDay) bool {
			return g.Status.Phase.Finished()
		})
		var during chaosv1alpha1.HypothesisResult
		for _, h := range got.Status.Hypotheses {
			if h.Phase == chaosv1alpha1.HypothesisBefore && !h.Held {
				t.Errorf("the steady state did not hold before the flush: %+v", h)
			}
			if h.Phase == chaosv1alpha1.HypothesisDuring {
				during = h
			}
		}
		t.Logf("%s: phase %s, during: held=%v value=%s checks=%d; HypothesesHeld %+v", name, got.Status.Phase, during.Held, during.Value, during.Checks,
			meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionHypothesesHeld))
		if during.Checks == 0 {
			t.Fatalf("the hypothesis was never checked during the game day: %+v", got.Status.Hypotheses)
		}
		return during
	}

	t.Run("delete everything at once: the database melts", func(t *testing.T) {
		h := run(t, "stampede", chaosv1alpha1.CacheFlushSpec{Engine: chaosv1alpha1.CacheRedis, Mode: chaosv1alpha1.DeletePattern, Pattern: "product:*"})
		v, _ := strconv.ParseFloat(h.Value, 64)
		if h.Held || v < threshold {
			t.Errorf("during a full flush: held=%v at %s queries/s; want the hypothesis broken with a rate over %d", h.Held, h.Value, threshold)
		}
	})
	t.Run("an expiry wave spread over 40 s: the database copes", func(t *testing.T) {
		h := run(t, "wave", chaosv1alpha1.CacheFlushSpec{Engine: chaosv1alpha1.CacheRedis, Mode: chaosv1alpha1.ExpirePattern, Pattern: "product:*",
			Expire: &chaosv1alpha1.CacheExpire{TTL: metav1.Duration{Duration: time.Second}, Jitter: &metav1.Duration{Duration: 40 * time.Second}}})
		if !h.Held {
			t.Errorf("during a 40 s expiry wave: the hypothesis broke at %s queries/s (%s); want it held under %d", h.Value, h.Message, threshold)
		}
	})
}
