package cacheflush

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/test/cachetest"
)

// dumped seeds n keys prefix:0..n-1 and returns their records as a snapshot would hold them,
// then removes them.
func dumped(t *testing.T, c *redis.Client, prefix string, n int) []record {
	t.Helper()
	ctx := t.Context()
	var rs []record
	for i := range n {
		k := fmt.Sprintf("%s:%d", prefix, i)
		if err := c.Set(ctx, k, fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
		d, err := c.Dump(ctx, k).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, record{key: k, dump: []byte(d)})
		if err := c.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

// TestRestoreGoesOnPastARefusedKey: a key whose saved value Redis refuses for good (a payload of
// another RDB version, a bad checksum) is counted as failed and named; every other key is
// restored. Before, the first such key failed the whole restore, for ever.
func TestRestoreGoesOnPastARefusedKey(t *testing.T) {
	srv := cachetest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	rs := dumped(t, c, "k", 10)
	bad := &rs[4]
	bad.dump = append([]byte(nil), bad.dump...)
	bad.dump[len(bad.dump)-1] ^= 0xff // the checksum no longer matches
	rs[7].dump = []byte("no payload") // not a DUMP at all

	res, err := restoreRecords(t.Context(), c, rs, 3, 0, time.Now)
	if err != nil {
		t.Fatalf("restore failed as a whole: %v", err)
	}
	if res.Restored != 8 || res.Failed != 2 || res.SkippedPresent != 0 {
		t.Errorf("result %+v: want 8 restored, 2 failed", res)
	}
	if !strings.Contains(res.FirstFailure, `key "k:4"`) || !strings.Contains(res.FirstFailure, "DUMP payload version or checksum are wrong") {
		t.Errorf("first failure %q: want key k:4 and Redis's reason", res.FirstFailure)
	}
	if n, _ := c.Exists(t.Context(), "k:0", "k:3", "k:5", "k:9").Result(); n != 4 {
		t.Errorf("%d of the 4 sampled good keys restored", n)
	}
}

// TestRecoverGivesUpAfterItsBound drives Recover on an injected clock against a Redis whose ACL
// user may not RESTORE: it fails and is retried (status.cacheFlush.restoreFailingSince set on the
// first attempt, the snapshot untouched) until RestoreTimeout after that first attempt, then
// gives up with a RestoreFailed PermanentError and keeps the snapshot Secrets, no longer owned by
// the Experiment. Once the user may RESTORE again, a restore succeeds and clears the mark.
func TestRecoverGivesUpAfterItsBound(t *testing.T) {
	srv := cachetest.StartRedis(t, cachetest.WithPassword("admin-pw"), cachetest.WithACLUser("chaos", "chaos-pw", "~*", "&*", "+@all", "-restore"))
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "admin-pw"})
	t.Cleanup(func() { _ = admin.Close() })
	ctx := t.Context()

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "flush", UID: "exp-uid"},
		Spec: chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionCacheFlush, CacheFlush: &chaosv1alpha1.CacheFlushSpec{
			Engine: chaosv1alpha1.CacheRedis, Address: srv.Addr, CredentialsSecretName: "creds", Mode: chaosv1alpha1.DeletePattern,
			Pattern: "k:*", Restore: &chaosv1alpha1.CacheRestore{MaxKeys: 100, MaxBytes: 1 << 20}}}}
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "creds"},
		Data: map[string][]byte{"username": []byte("chaos"), "password": []byte("chaos-pw")}}
	k8s := fake.NewClientBuilder().WithScheme(scheme).WithObjects(exp.DeepCopy(), creds).Build()
	names, err := saveSnapshot(ctx, k8s, exp, dumped(t, admin, "k", 5))
	if err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f := &CacheFlush{Client: k8s, Reader: k8s, Now: func() time.Time { return now }, RestoreTimeout: time.Minute}
	target := chaosv1alpha1.TargetStatus{Namespace: "shop", Name: "redis://" + srv.Addr + "/0", Round: 1}
	owned := func() int {
		t.Helper()
		n := 0
		for _, name := range names {
			var s corev1.Secret
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &s); err != nil {
				t.Fatalf("snapshot Secret %s: %v", name, err)
			}
			n += len(s.OwnerReferences)
		}
		return n
	}

	var perm *experiments.PermanentError
	for _, after := range []time.Duration{0, 30 * time.Second, time.Minute - time.Millisecond} {
		now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(after)
		err := f.Recover(ctx, exp, target)
		if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("%s after the first attempt: %v, want a NOPERM error to retry", after, err)
		}
		if st := exp.Status.CacheFlush; st.RestoreFailingSince == nil || !st.RestoreFailingSince.Time.Equal(now.Add(-after)) {
			t.Fatalf("restoreFailingSince %v, want the first attempt's time", st.RestoreFailingSince)
		}
		if owned() != len(names) {
			t.Fatal("a snapshot Secret was released before the restore was given up")
		}
	}

	now = now.Add(time.Millisecond) // RestoreTimeout after the first attempt
	err = f.Recover(ctx, exp, target)
	if !errors.As(err, &perm) || perm.Reason != chaosv1alpha1.ReasonRestoreFailed {
		t.Fatalf("at the bound: %v, want a RestoreFailed PermanentError", err)
	}
	for _, want := range []string{"could not be restored for 1m0s", "NOPERM", "kept in Secrets shop/flush-cache-snapshot-0"} {
		if !strings.Contains(perm.Message, want) {
			t.Errorf("message %q does not say %q", perm.Message, want)
		}
	}
	if n := owned(); n != 0 {
		t.Errorf("the kept snapshot Secrets still carry %d owner references: deleting the Experiment would remove them", n)
	}

	// Put right by hand: the snapshot is still whole, and a restore now succeeds.
	if err := admin.Do(ctx, "ACL", "SETUSER", "chaos", "+restore").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.Recover(ctx, exp, target); err != nil {
		t.Fatal(err)
	}
	if st := exp.Status.CacheFlush; st.RestoredKeys != 5 || st.RestoreFailingSince != nil {
		t.Errorf("status %+v: want 5 restored and restoreFailingSince cleared", st)
	}
}
