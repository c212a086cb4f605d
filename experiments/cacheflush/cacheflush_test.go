package cacheflush

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/firedrill-dev/firedrill/experiments"
)

func TestRecordsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []record
	}{
		{"empty", nil},
		{"one without TTL", []record{{key: "a", dump: []byte{0, 1, 2}}}},
		{"binary keys and values, TTLs", []record{
			{key: "session:\x00\xff", expireAt: 1_790_000_000_123, dump: []byte("\x00\x05hello\x0b\x00")},
			{key: "", expireAt: 0, dump: nil},
			{key: strings.Repeat("k", 300), expireAt: 1, dump: make([]byte, 70_000)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := decodeRecords(encodeRecords(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(tc.in) {
				t.Fatalf("%d records back, want %d", len(out), len(tc.in))
			}
			for i := range out {
				if out[i].key != tc.in[i].key || out[i].expireAt != tc.in[i].expireAt || string(out[i].dump) != string(tc.in[i].dump) {
					t.Errorf("record %d: got %+v, want %+v", i, out[i], tc.in[i])
				}
			}
		})
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	b := encodeRecords([]record{{key: "abc", expireAt: 5, dump: []byte("value")}})
	for cut := 1; cut < len(b); cut++ {
		if _, err := decodeRecords(b[:cut]); !errors.Is(err, errCorrupt) {
			t.Errorf("cut at %d of %d: err %v, want errCorrupt", cut, len(b), err)
		}
	}
}

func TestParseRedisInfo(t *testing.T) {
	info := parseRedisInfo("# Server\r\nredis_version:7.0.15\r\n# Memory\r\nused_memory:1109504\r\nlazyfree_pending_objects:3\r\n" +
		"# Stats\r\nkeyspace_hits:42\r\nkeyspace_misses:7\r\n# Replication\r\nrole:slave\r\nmaster_host:10.0.0.5\r\n" +
		"# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=100\r\ndb3:keys=250,expires=0,avg_ttl=0\r\n")
	want := redisInfo{version: "7.0.15", majorVersion: 7, role: "slave", replicaOfHost: "10.0.0.5", usedMemory: 1109504,
		hits: 42, misses: 7, lazyfreePend: 3, keysPerDB: map[int]int64{0: 10, 3: 250}}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v\nwant %+v", info, want)
	}
	if info.keys(3) != 250 || info.keys(1) != 0 || info.allKeys() != 260 {
		t.Errorf("keys(3)=%d keys(1)=%d all=%d", info.keys(3), info.keys(1), info.allKeys())
	}
	if info.cluster || !parseRedisInfo("# Cluster\r\ncluster_enabled:1\r\n").cluster || parseRedisInfo("# Cluster\r\ncluster_enabled:0\r\n").cluster {
		t.Error("cluster_enabled is not read")
	}
}

func TestServiceAddress(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "redis"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Name: "resp", Port: 6379}, {Name: "sentinel", Port: 26379}}}}
	headless := svc.DeepCopy()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	for _, tc := range []struct {
		name    string
		svc     *corev1.Service
		port    intstr.IntOrString
		want    string
		wantErr string
	}{
		{"by name", svc, intstr.FromString("sentinel"), "10.96.0.20:26379", ""},
		{"by number", svc, intstr.FromInt32(6379), "10.96.0.20:6379", ""},
		{"unknown name", svc, intstr.FromString("http"), "", "spec.cacheFlush.service.port: Service shop/redis has no port http"},
		{"unknown number", svc, intstr.FromInt32(80), "", "has no port 80"},
		{"headless", headless, intstr.FromString("resp"), "", "has no cluster IP (headless)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serviceAddress(tc.svc, tc.port)
			if tc.wantErr != "" {
				var perm *experiments.PermanentError
				if !errors.As(err, &perm) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a PermanentError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestExpirySpread(t *testing.T) {
	x := Expiry{TTL: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := x.next()
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 100*time.Millisecond || hi >= 150*time.Millisecond || hi-lo < 40*time.Millisecond {
		t.Errorf("TTLs in [%s, %s]: want spread over [100ms, 150ms)", lo, hi)
	}
	if d := (Expiry{}).next(); d != time.Millisecond {
		t.Errorf("zero expiry gives %s, want the 1ms floor", d)
	}
}
