//go:build bench

package bench

import (
	"bufio"

	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/internal/capacity"
)

// TestBenchCapacity (`make bench-capacity`) checks the capacity model against a real service:
// hack/capsvc processes on loopback ports (4 workers each, exponential service times of mean
// 50 ms), behind a load generator that sends Poisson arrivals to a random live replica. For 1–4
// replicas, and for 4 with one killed (its process gone, dropped from the rotation), it measures
// the throughput plateau (offered 1.4× the model's capacity) and the load at which p99 crosses
// 375 ms (a ramp from 0.8× to 1.2× the model's λ* in 2.5 % steps, made monotone and
// interpolated), and compares
// them with the model's capacity and λ*, predicted from the declared inputs alone.
func TestBenchCapacity(t *testing.T) {
	const (
		workers   = 4
		svcTime   = 50 * time.Millisecond
		threshold = 375 * time.Millisecond
	)
	bin := filepath.Join(t.TempDir(), "capsvc")
	if out, err := exec.Command("go", "build", "-o", bin, "../../hack/capsvc").CombinedOutput(); err != nil {
		t.Fatalf("building capsvc: %v\n%s", err, out)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}, Timeout: 30 * time.Second}

	type row struct {
		name             string
		replicas, killed int
	}
	rows := []row{{"1 replica", 1, 0}, {"2 replicas", 2, 0}, {"3 replicas", 3, 0}, {"4 replicas", 4, 0}, {"4 replicas, 1 killed", 4, 1}}
	var table [][]string
	worst := 0.0
	for _, r := range rows {
		addrs, kill := startReplicas(t, bin, r.replicas, workers, svcTime)
		for i := 0; i < r.killed; i++ {
			kill(i)
		}
		live := addrs[r.killed:]
		m := capacity.Model{Services: []capacity.Service{{Name: "svc", Queue: capacity.Queue{Replicas: r.replicas, Workers: workers, ServiceTime: svcTime},
			LatencyThreshold: threshold}}, MaxUtilisation: 1}
		preds, err := m.Predict(map[string]capacity.Fault{"svc": {KillReplicas: r.killed}})
		if err != nil {
			t.Fatal(err)
		}
		pred := preds[0]
		plateau := measurePlateau(t, client, live, 1.4*pred.Capacity, 6*time.Second)
		star, steps := measureKnee(t, client, live, pred.Saturation.Lambda, threshold)
		ePlateau := (pred.Capacity - plateau) / plateau
		eStar := (pred.Saturation.Lambda - star) / star
		worst = math.Max(worst, math.Max(math.Abs(ePlateau), math.Abs(eStar)))
		if math.IsNaN(star) {
			worst = math.NaN()
		}
		fmt.Printf("%-22s plateau: model %6.1f/s measured %6.1f/s (%+.1f%%); p99 = %s at: model %6.1f/s measured %6.1f/s (%+.1f%%)  [ramp%s]\n",
			r.name, pred.Capacity, plateau, 100*ePlateau, threshold, pred.Saturation.Lambda, star, 100*eStar, steps)
		table = append(table, []string{r.name, fmt.Sprintf("%.1f", pred.Capacity), fmt.Sprintf("%.1f", plateau), fmt.Sprintf("%+.1f%%", 100*ePlateau),
			fmt.Sprintf("%.1f", pred.Saturation.Lambda), fmt.Sprintf("%.1f", star), fmt.Sprintf("%+.1f%%", 100*eStar)})
		for i := r.killed; i < len(addrs); i++ {
			kill(i)
		}
	}
	fmt.Printf("\ncapacity model against capsvc (%d workers per replica, exponential service time, mean %s; knee = p99 crossing %s):\n", workers, svcTime, threshold)
	fmt.Print(capacity.Table([]string{"replicas", "capacity model", "plateau measured", "error", "λ* model", "λ* measured", "error"}, table))
	fmt.Printf("worst |predicted − measured| / measured: %.1f%% (target < 10%%)\n", 100*worst)
}

// startReplicas runs n capsvc processes; kill(i) stops the i-th (idempotent).
func startReplicas(t *testing.T, bin string, n, workers int, svcTime time.Duration) ([]string, func(int)) {
	t.Helper()
	addrs := make([]string, n)
	cmds := make([]*exec.Cmd, n)
	var once []sync.Once
	for i := range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
		cmds[i] = exec.Command(bin, "-addr", addrs[i], "-workers", strconv.Itoa(workers), "-service-time", svcTime.String())
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		once = append(once, sync.Once{})
	}
	kill := func(i int) {
		once[i].Do(func() { _ = cmds[i].Process.Kill(); _ = cmds[i].Wait() })
	}
	t.Cleanup(func() {
		for i := range n {
			kill(i)
		}
	})
	for _, a := range addrs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.DialTimeout("tcp", a, 100*time.Millisecond); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("capsvc on %s not up", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return addrs, kill
}

// load sends Poisson arrivals at rate to random replicas for d and returns the latency of each
// request sent after warmup, and how many completed inside [warmup, d].
func load(t *testing.T, client *http.Client, addrs []string, rate float64, warmup, d time.Duration) (lat stats, completed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	next := start
	for {
		now := time.Now()
		if now.Sub(start) >= d {
			break
		}
		for !next.After(now) {
			sent := next
			addr := addrs[rand.IntN(len(addrs))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get("http://" + addr + "/")
				done := time.Now()
				if err != nil {
					t.Errorf("GET %s: %v", addr, err)
					return
				}
				_, _ = bufio.NewReader(resp.Body).Discard(1 << 20)
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				if sent.Sub(start) >= warmup && done.Sub(start) <= d+10*time.Second {
					lat = append(lat, done.Sub(sent)) // from the scheduled send: queueing in the generator counts too
				}
				if done.Sub(start) >= warmup && done.Sub(start) <= d {
					completed++
				}
			}()
			next = next.Add(time.Duration(rand.ExpFloat64() / rate * float64(time.Second)))
		}
		time.Sleep(time.Until(next))
	}
	wg.Wait()
	return lat, completed
}

// measurePlateau offers more than the service can take and counts completions per second.
func measurePlateau(t *testing.T, client *http.Client, addrs []string, offered float64, d time.Duration) float64 {
	const warmup = time.Second
	_, done := load(t, client, addrs, offered, warmup, d)
	return float64(done) / (d - warmup).Seconds()
}

// measureKnee ramps the load from 0.8× to 1.2× of guess in 2.5 % steps and measures p99 at
// each (at least 1500 requests a step), until two steps in a row are over threshold. A p99 from
// 1500 requests is noisy (±15 % here), and the first single step over the threshold crosses
// early; so the p99s are first made monotone in the load (isotonic regression, pool adjacent
// violators: latency does not fall as load rises), and the crossing is interpolated on that.
func measureKnee(t *testing.T, client *http.Client, addrs []string, guess float64, threshold time.Duration) (float64, string) {
	var rates, p99s []float64
	trace := ""
	over := 0
	for f := 0.8; f <= 1.2001 && over < 2; f += 0.025 {
		rate := guess * f
		d := time.Duration(math.Max(3, 1500/rate+1) * float64(time.Second))
		lat, _ := load(t, client, addrs, rate, time.Second, d)
		slices.Sort(lat)
		p99 := lat.pct(0.99)
		trace += fmt.Sprintf(" %.0f:%.0fms", rate, ms(p99))
		rates, p99s = append(rates, rate), append(p99s, p99.Seconds())
		if p99 > threshold {
			over++
		} else {
			over = 0
		}
	}
	fit := isotonic(p99s)
	th := threshold.Seconds()
	for i := range fit {
		if fit[i] > th {
			if i == 0 {
				return rates[0], trace
			}
			frac := (th - fit[i-1]) / (fit[i] - fit[i-1])
			return rates[i-1] + frac*(rates[i]-rates[i-1]), trace
		}
	}
	return math.NaN(), trace
}

// isotonic is the non-decreasing least-squares fit of ys (pool adjacent violators).
func isotonic(ys []float64) []float64 {
	type block struct {
		sum float64
		n   int
	}
	var bs []block
	for _, y := range ys {
		bs = append(bs, block{y, 1})
		for len(bs) > 1 && bs[len(bs)-2].sum/float64(bs[len(bs)-2].n) > bs[len(bs)-1].sum/float64(bs[len(bs)-1].n) {
			last := bs[len(bs)-1]
			bs = bs[:len(bs)-1]
			bs[len(bs)-1].sum += last.sum
			bs[len(bs)-1].n += last.n
		}
	}
	out := make([]float64, 0, len(ys))
	for _, b := range bs {
		for range b.n {
			out = append(out, b.sum/float64(b.n))
		}
	}
	return out
}

func TestIsotonic(t *testing.T) {
	got := isotonic([]float64{1, 3, 2, 4, 3, 3, 6})
	want := []float64{1, 2.5, 2.5, 10.0 / 3, 10.0 / 3, 10.0 / 3, 6}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("isotonic = %v, want %v", got, want)
		}
	}
}
