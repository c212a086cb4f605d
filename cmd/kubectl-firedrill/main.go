// Command kubectl-firedrill is Firedrill's kubectl plugin. `kubectl firedrill plan -f
// gameday.yaml` prints the capacity model's NALSD table and, for every step, its predictions,
// from the manifest's inputs, without a cluster; PromQL loads are read from Prometheus. Inputs it
// cannot read (Prometheus down, a query that fails) make the plan say it cannot judge, as the
// controller fails such a game day.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/capacity"
	"github.com/firedrill-dev/firedrill/internal/gdcapacity"
	"github.com/firedrill-dev/firedrill/internal/slo"
	"sigs.k8s.io/yaml"
)

// Exit codes of `plan --fail-on-saturation`: a step would be refused; or the model's inputs
// could not be read, so the plan cannot judge (the controller fails such a game day).
const (
	exitRefused  = 3
	exitUnjudged = 4
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the command on its arguments (without the program name); it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 1 || args[0] != "plan" {
		fmt.Fprintln(stderr, "usage: kubectl firedrill plan -f GAMEDAY.yaml [--prometheus URL] [--replicas SERVICE=N ...] [--fail-on-saturation]")
		return 2
	}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "GameDay manifest (- for standard input)")
	prom := fs.String("prometheus", "", "Prometheus URL for PromQL loads (default: the manifest's spec.prometheus.address)")
	failOn := fs.Bool("fail-on-saturation", false, "exit 3 when a step would be refused, 4 when the model's inputs cannot be read")
	replicas := replicaFlags{}
	fs.Var(&replicas, "replicas", "SERVICE=N: replicas of a service whose workload is read from a cluster (repeatable)")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2 // the flag package has said what is wrong
	}
	in := stdin
	switch *file {
	case "":
		fmt.Fprintln(stderr, "plan: -f is required")
		return 2
	case "-":
	default:
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	v, err := plan(ctx, stdout, data, options{prometheus: *prom, replicas: replicas})
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		return 1
	}
	switch {
	case !*failOn:
		return 0
	case v.refused > 0:
		return exitRefused
	case v.unjudged > 0:
		return exitUnjudged
	}
	return 0
}

type replicaFlags map[string]int

func (r replicaFlags) String() string { return fmt.Sprint(map[string]int(r)) }

func (r replicaFlags) Set(v string) error {
	name, n, ok := strings.Cut(v, "=")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 {
		return fmt.Errorf("want SERVICE=N, got %q", v)
	}
	r[name] = i
	return nil
}

type options struct {
	prometheus string
	replicas   map[string]int
	// query replaces Prometheus (tests).
	query func(context.Context, string) (float64, error)
}

// verdicts counts what the plan found.
type verdicts struct {
	// refused is how many steps (or parallel groups) would be refused.
	refused int
	// unjudged is how many GameDays' capacity inputs could not be read.
	unjudged int
}

func (v *verdicts) add(o verdicts) {
	v.refused, v.unjudged = v.refused+o.refused, v.unjudged+o.unjudged
}

// plan prints the plan of every GameDay in the manifest and returns what it found.
func plan(ctx context.Context, w io.Writer, data []byte, opt options) (verdicts, error) {
	var v verdicts
	found := 0
	for _, doc := range strings.Split("\n"+string(data), "\n---") {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return v, err
		}
		if head.Kind != "GameDay" {
			continue
		}
		var gd chaosv1alpha1.GameDay
		if err := yaml.UnmarshalStrict([]byte(doc), &gd); err != nil {
			return v, fmt.Errorf("reading the GameDay: %w", err)
		}
		found++
		n, err := planOne(ctx, w, &gd, opt)
		v.add(n)
		if err != nil {
			return v, err
		}
	}
	if found == 0 {
		return v, errors.New("no GameDay in the manifest")
	}
	return v, nil
}

func planOne(ctx context.Context, w io.Writer, gd *chaosv1alpha1.GameDay, opt options) (verdicts, error) {
	fmt.Fprintf(w, "GameDay %s/%s\n", gd.Namespace, gd.Name)
	if gd.Spec.Capacity == nil {
		fmt.Fprintln(w, "  no spec.capacity: nothing to predict")
		return verdicts{}, nil
	}
	spec := gd.Spec.Capacity.DeepCopy()
	for i := range spec.Services { // --replicas stands in for a workload's live count
		s := &spec.Services[i]
		if n, ok := opt.replicas[s.Name]; ok {
			s.Workload, s.Replicas = nil, ptr(int32(n))
		}
	}
	in := gdcapacity.Inputs{Query: opt.query}
	addr := opt.prometheus
	if addr == "" && gd.Spec.Prometheus != nil {
		addr = gd.Spec.Prometheus.Address
	}
	if in.Query == nil && addr != "" {
		q, err := slo.NewPrometheus(addr, 5*time.Second)
		if err != nil {
			return verdicts{}, err
		}
		in.Query = gdcapacity.PromQuery(q, time.Now)
	}
	m, err := gdcapacity.Build(ctx, spec, in)
	if err != nil {
		// The controller fails the game day on this error (capacityStart). Counted as zero, an
		// unread load passed steps the controller refuses, so nothing is predicted.
		fmt.Fprintln(w, "  CANNOT JUDGE: the capacity model's inputs were not read (the controller fails the game day on this):")
		for _, l := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(w, "    "+l)
		}
		return verdicts{unjudged: 1}, nil
	}
	sums, err := gdcapacity.Summaries(m, spec.Services)
	if err != nil {
		return verdicts{}, err
	}
	u := m.MaxUtilisation
	if u <= 0 {
		u = 0.9
	}
	fmt.Fprintf(w, "\nsteady state (NALSD, N+1 at utilisation %.2f):\n", u)
	var rows [][]string
	for _, s := range sums {
		rows = append(rows, []string{s.Service, s.Load, strconv.Itoa(int(s.Replicas)), dash(s.PerReplica), dash(s.Capacity), dash(s.Utilisation), dashN(s.Needed), dash(s.Headroom)})
	}
	indent(w, capacity.Table([]string{"service", "load/s", "replicas", "per replica/s", "capacity/s", "utilisation", "needed (N+1)", "headroom/s"}, rows))
	for _, s := range sums {
		if s.Scalability != "" {
			fmt.Fprintf(w, "  %s: %s\n", s.Service, s.Scalability)
		}
	}
	var v verdicts
	steps := gd.Spec.Steps
	for start := 0; start < len(steps); {
		end := chaosv1alpha1.GroupEnd(steps, start)
		// As the controller: the group's faults together first (groupPreflight), then each
		// step alone (capacityPreflight); either refusal stops the game day.
		if together := gdcapacity.Together(steps[start:end]); together != nil {
			p, err := gdcapacity.PredictGroup(ctx, m, spec.Services, together, in, false)
			if err != nil {
				return v, err
			}
			verdict := "within capacity"
			if len(p.Saturated) > 0 {
				verdict = "REFUSED: predicted to saturate"
				v.refused++
			}
			p.Notes = nil // each step's own verdict below says them
			printStep(w, fmt.Sprintf("steps %s together (a parallel group): %s", gdcapacity.StepNames(together), verdict), p)
		}
		for _, step := range steps[start:end] {
			if step.Experiment == nil || len(step.CapacityTargets) == 0 {
				continue
			}
			p, err := gdcapacity.PredictStep(ctx, m, spec.Services, step, in, false)
			if err != nil {
				return v, err
			}
			verdict := "within capacity"
			switch {
			case len(p.Saturated) > 0 && (step.AllowSaturation || step.Experiment.DryRun):
				verdict = "predicted to saturate; runs anyway (allowSaturation or dry run)"
			case len(p.Saturated) > 0:
				verdict = "REFUSED: predicted to saturate"
				v.refused++
			}
			printStep(w, fmt.Sprintf("step %s (%s on %s): %s", step.Name, step.Experiment.Action, strings.Join(step.CapacityTargets, ", "), verdict), p)
		}
		start = end
	}
	return v, nil
}

// printStep prints a verdict with its predictions and notes.
func printStep(w io.Writer, verdict string, p gdcapacity.Step) {
	fmt.Fprintf(w, "\n%s\n", verdict)
	var rows [][]string
	for _, p := range p.Predictions {
		rows = append(rows, []string{p.Service, p.Load, strconv.Itoa(int(p.Replicas)), dash(p.Utilisation), dash(p.P99), dash(p.SaturationLoad), dash(p.Saturated)})
	}
	indent(w, capacity.Table([]string{"service", "load/s", "replicas", "utilisation", "p99", "λ*/s", "saturated"}, rows))
	for _, n := range p.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func indent(w io.Writer, s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintln(w, "  "+strings.TrimRight(l, " "))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashN(n int32) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(int(n))
}

func ptr[T any](v T) *T { return &v }
