package slo

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus is a Querier over Prometheus's HTTP API.
type Prometheus struct {
	API promv1.API
	// Timeout bounds each query (the server is also told, with the query's timeout parameter).
	Timeout time.Duration
}

// NewPrometheus connects to a Prometheus at address ("http://prometheus:9090").
func NewPrometheus(address string, timeout time.Duration) (*Prometheus, error) {
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: &http.Transport{
		Proxy:               nil, // never through a proxy: the guard talks to the Prometheus it is given
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	}})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", address, err)
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Prometheus{API: promv1.NewAPI(c), Timeout: timeout}, nil
}

// Value implements Querier: a scalar, or a vector of exactly one sample.
func (p *Prometheus) Value(ctx context.Context, query string, t time.Time) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	v, _, err := p.API.Query(ctx, query, t, promv1.WithTimeout(p.Timeout))
	if err != nil {
		return 0, false, fmt.Errorf("prometheus query %q: %w", query, err)
	}
	switch v := v.(type) {
	case *model.Scalar:
		return finite(query, float64(v.Value))
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, false, nil
		case 1:
			return finite(query, float64(v[0].Value))
		}
		return 0, false, fmt.Errorf("prometheus query %q returned %d series; an SLI query must aggregate to one (sum(...))", query, len(v))
	}
	return 0, false, fmt.Errorf("prometheus query %q returned a %s, want a scalar or one sample", query, v.Type())
}

// finite refuses ±Inf (a division by a zero rate), naming the query. NaN passes as a sample: it
// is what PromQL gives for a ratio or a quantile over no traffic (0/0, histogram_quantile of zero
// rates), where the series exist, so it is not "no data"; an abort condition on it does not hold
// (NaN compares false), and the SLO arithmetic refuses it as not finite.
func finite(query string, f float64) (float64, bool, error) {
	if math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("prometheus query %q returned %g: %w", query, f, ErrNotFinite)
	}
	return f, true, nil
}
