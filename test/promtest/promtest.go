// Package promtest runs a real Prometheus (Debian's package) for tests, on a free loopback port,
// with exact series: backfilled from OpenMetrics text with promtool before it starts (for windows
// of days), and written live through its remote-write receiver.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
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

	"github.com/firedrill-dev/firedrill/test/proctest"
)

// Server is a running Prometheus.
type Server struct {
	URL string
	*proctest.Process
}

// Option configures Start.
type Option func(*config)

type config struct{ backfill, host string }

// WithHost listens on host (an address of this machine) instead of 127.0.0.1: for a Prometheus
// that pods of the local cluster must reach (the node IP).
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// WithBackfill loads OpenMetrics text (ending in "# EOF") as TSDB blocks before Prometheus starts.
func WithBackfill(openMetrics string) Option { return func(c *config) { c.backfill = openMetrics } }

// Start runs Prometheus until the test ends. Retention is 400 days, so backfilled blocks of a
// 30-day window are kept; no scrape targets.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	prom := proctest.Binary(t, "prometheus", "prometheus")
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
		out, err := exec.Command(proctest.Binary(t, "promtool", "prometheus"), "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=720h", src, data).CombinedOutput()
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
	addr := proctest.FreeAddr(t, host)
	s := &Server{URL: "http://" + addr}
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+data, "--storage.tsdb.retention.time=400d",
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	s.Process = proctest.Start(t, cmd, "prometheus", 30*time.Second, func() bool {
		resp, err := http.Get(s.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
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
