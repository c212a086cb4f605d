// Package promtest runs a real Prometheus (Debian's package) for tests, on a free loopback port,
// with exact series: backfilled from OpenMetrics text with promtool before it starts (for windows
// of days), and written live through its remote-write receiver.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Server is a running Prometheus.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	t    testing.TB
}

// Option configures Start.
type Option func(*config)

type config struct{ backfill, host string }

// WithHost listens on host (an address of this machine) instead of 127.0.0.1: for a Prometheus
// that pods of the local cluster must reach (the node IP).
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// WithBackfill loads OpenMetrics text (ending in "# EOF") as TSDB blocks before Prometheus starts.
func WithBackfill(openMetrics string) Option { return func(c *config) { c.backfill = openMetrics } }

// Binary finds prometheus and promtool; a missing one fails the test (hack/deps.sh installs them).
func binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's prometheus package (make deps does)", name)
	}
	return p
}

// Start runs Prometheus until the test ends. Retention is 400 days, so backfilled blocks of a
// 30-day window are kept; no scrape targets.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	prom := binary(t, "prometheus")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if c.backfill != "" {
		src := filepath.Join(dir, "backfill.om")
		if err := os.WriteFile(src, []byte(c.backfill), 0o644); err != nil {
			t.Fatal(err)
		}
		// Without --max-block-duration promtool cuts 2h blocks: 57 s for 30 days here, 0.8 s with.
		out, err := exec.Command(binary(t, "promtool"), "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=720h", src, data).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool backfill: %v\n%s", err, out)
		}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := c.host
	if host == "" {
		host = "127.0.0.1"
	}
	addr := freeAddr(t, host)
	s := &Server{URL: "http://" + addr, done: make(chan struct{}), t: t}
	s.cmd = exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+data, "--storage.tsdb.retention.time=400d",
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("prometheus exited at start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops Prometheus at once (as a crash would) and waits for it to be gone.
func (s *Server) Kill() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

func freeAddr(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Sample is one value of a series at a time.
type Sample struct {
	T time.Time
	V float64
}

// Series is a metric with labels (including __name__) and samples.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Write sends series through the remote-write receiver (protobuf, snappy), as Prometheus agents do.
func (s *Server) Write(ctx context.Context, series ...Series) error {
	var req []byte
	for _, ts := range series {
		var b []byte
		names := make([]string, 0, len(ts.Labels))
		for n := range ts.Labels {
			names = append(names, n)
		}
		sort.Strings(names) // remote write wants labels sorted by name
		for _, n := range names {
			var l []byte
			l = protowire.AppendTag(l, 1, protowire.BytesType)
			l = protowire.AppendString(l, n)
			l = protowire.AppendTag(l, 2, protowire.BytesType)
			l = protowire.AppendString(l, ts.Labels[n])
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendBytes(b, l)
		}
		for _, smp := range ts.Samples {
			var m []byte
			m = protowire.AppendTag(m, 1, protowire.Fixed64Type)
			m = protowire.AppendFixed64(m, math.Float64bits(smp.V))
			m = protowire.AppendTag(m, 2, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(smp.T.UnixMilli()))
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, m)
		}
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, b)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, req)))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return fmt.Errorf("remote write: %s: %s", resp.Status, strings.TrimSpace(body.String()))
	}
	return nil
}
