package cacheflush

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// record is one key as DUMP saw it: its serialized value and when it expires (unix ms, 0 for
// never), so that a restore gives back the key's remaining life, not a fresh one.
type record struct {
	key      string
	expireAt int64
	dump     []byte
}

func (r record) size() int { return len(r.key) + len(r.dump) + 3*binary.MaxVarintLen64 }

// encodeRecords lays records out as (len key, key, expireAt, len dump, dump)*.
func encodeRecords(rs []record) []byte {
	n := 0
	for _, r := range rs {
		n += r.size()
	}
	out := make([]byte, 0, n)
	for _, r := range rs {
		out = binary.AppendUvarint(out, uint64(len(r.key)))
		out = append(out, r.key...)
		out = binary.AppendVarint(out, r.expireAt)
		out = binary.AppendUvarint(out, uint64(len(r.dump)))
		out = append(out, r.dump...)
	}
	return out
}

var errCorrupt = errors.New("snapshot is corrupt")

func decodeRecords(b []byte) ([]record, error) {
	var out []record
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, errCorrupt
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		key, err := field()
		if err != nil {
			return nil, err
		}
		at, k := binary.Varint(b)
		if k <= 0 {
			return nil, errCorrupt
		}
		b = b[k:]
		dump, err := field()
		if err != nil {
			return nil, err
		}
		out = append(out, record{key: string(key), expireAt: at, dump: dump})
	}
	return out, nil
}

// apiError is a Kubernetes API failure while keeping the snapshot: retried, never blamed on
// the cache.
type apiError struct{ err error }

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

// errForeignSnapshot: a Secret of the snapshot's name belongs to another Experiment (one kept
// after its restore failed): the flush is refused, nothing removed, and it is not overwritten.
type errForeignSnapshot struct{ msg string }

func (e *errForeignSnapshot) Error() string { return e.msg }

// errSnapshotTooLarge: more keys or bytes match than restore allows; nothing was removed.
type errSnapshotTooLarge struct{ msg string }

func (e *errSnapshotTooLarge) Error() string { return e.msg }

// takeSnapshot DUMPs the keys matching pattern (with their PTTL), one pipeline per batch, and
// refuses as soon as the caps are passed. SCAN may return a key twice: it is kept once.
func takeSnapshot(ctx context.Context, c *redis.Client, pattern string, batch int, maxKeys int64, lim chaosv1alpha1.CacheRestore, now func() time.Time) ([]record, error) {
	var out []record
	seen := map[string]bool{}
	var bytes int64
	_, _, err := scanPattern(ctx, c, pattern, batch, maxKeys, func(keys []string) error {
		p := c.Pipeline()
		dumps := make([]*redis.StringCmd, len(keys))
		ttls := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			dumps[i] = p.Dump(ctx, k)
			ttls[i] = p.Do(ctx, "PTTL", k)
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		at := now().UnixMilli()
		for i, k := range keys {
			d, err := dumps[i].Bytes()
			ttl, terr := ttls[i].Int64()
			if errors.Is(err, redis.Nil) || terr != nil || ttl == -2 || seen[k] {
				continue // gone since the scan, or already kept
			}
			if err != nil {
				return err
			}
			r := record{key: k, dump: d}
			if ttl >= 0 {
				r.expireAt = at + ttl
			}
			seen[k] = true
			out = append(out, r)
			bytes += int64(len(k) + len(d))
		}
		if int64(len(out)) > lim.MaxKeys {
			return &errSnapshotTooLarge{fmt.Sprintf("more than spec.cacheFlush.restore.maxKeys (%d) keys match %q: nothing was removed; raise the cap or narrow the pattern", lim.MaxKeys, pattern)}
		}
		if bytes > lim.MaxBytes {
			return &errSnapshotTooLarge{fmt.Sprintf("the keys matching %q hold more than spec.cacheFlush.restore.maxBytes (%d bytes serialized): nothing was removed; raise the cap or narrow the pattern", pattern, lim.MaxBytes)}
		}
		return nil
	})
	return out, err
}

// RestoreResult counts what a restore did. Failed keys were refused by Redis for good (see
// keyRefused); FirstFailure names the first of them and why.
type RestoreResult struct {
	Restored, SkippedPresent, SkippedExpired, Failed int64
	FirstFailure                                     string
}

func (r *RestoreResult) fail(key string, err error) {
	r.Failed++
	if r.FirstFailure == "" {
		r.FirstFailure = fmt.Sprintf("key %q: %v", truncate(key, 100), err)
	}
}

// keyRefused reports whether Redis refused one key's RESTORE for a reason of that record alone,
// which no retry can fix: a DUMP payload of another RDB version or with a bad checksum, a value
// it cannot parse, a bad TTL. Such a key is counted as failed and the restore goes on with the
// others. Anything else (NOPERM, OOM, READONLY, a lost connection) is the server's or the ACL's
// and fails the whole attempt, which is retried.
func keyRefused(err error) bool {
	msg := err.Error()
	for _, p := range []string{"ERR DUMP payload version or checksum are wrong", "ERR Bad data format", "ERR Invalid TTL value"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// restoreRecords RESTOREs the snapshot without REPLACE: a key the application wrote again since
// keeps its newer value (BUSYKEY), and a key whose TTL has run out since is not brought back.
// With ours > 0 (a mass expiry), a key still present whose TTL is at most ours is taken to carry
// the TTL the experiment gave it, and gets its original expiry back instead.
func restoreRecords(ctx context.Context, c *redis.Client, rs []record, batch int, ours time.Duration, now func() time.Time) (RestoreResult, error) {
	var res RestoreResult
	for i := 0; i < len(rs); i += batch {
		part := rs[i:min(i+batch, len(rs))]
		at := now().UnixMilli()
		p := c.Pipeline()
		type pending struct {
			r   record
			cmd *redis.Cmd
		}
		cmds := make([]pending, 0, len(part))
		for _, r := range part {
			if r.expireAt > 0 && r.expireAt <= at+1 {
				res.SkippedExpired++
				continue
			}
			cmds = append(cmds, pending{r, p.Do(ctx, restoreArgs(r)...)})
		}
		if len(cmds) == 0 {
			continue
		}
		_, _ = p.Exec(ctx) // each command's own error is read below
		var busy []record
		for _, pc := range cmds {
			switch err := pc.cmd.Err(); {
			case err == nil:
				res.Restored++
			case strings.HasPrefix(err.Error(), "BUSYKEY"):
				busy = append(busy, pc.r)
			case keyRefused(err):
				res.fail(pc.r.key, err)
			default:
				return res, err
			}
		}
		reset, failed, err := resetExpiries(ctx, c, busy, ours, now, &res)
		if err != nil {
			return res, err
		}
		res.Restored += reset
		res.SkippedPresent += int64(len(busy)) - reset - failed
	}
	return res, nil
}

// resetExpiries gives back their original expiry to the present keys whose TTL is at most ours
// (the experiment's), and restores those that expire while it works (the wave goes on during a
// restore); it returns how many it put right, and how many Redis refused for good (counted in
// res). A key is looked at again when it vanished between two commands, at most three times.
func resetExpiries(ctx context.Context, c *redis.Client, rs []record, ours time.Duration, now func() time.Time, res *RestoreResult) (done, failed int64, err error) {
	if ours <= 0 {
		return 0, 0, nil
	}
	for attempt := 0; attempt < 3 && len(rs) > 0; attempt++ {
		p := c.Pipeline()
		ttls := make([]*redis.Cmd, len(rs))
		for i, r := range rs {
			ttls[i] = p.Do(ctx, "PTTL", r.key)
		}
		if _, err := p.Exec(ctx); err != nil {
			return done, failed, err
		}
		type op struct {
			r       record
			cmd     *redis.Cmd
			restore bool
		}
		var ops []op
		p = c.Pipeline()
		at := now().UnixMilli()
		for i, r := range rs {
			ttl, err := ttls[i].Int64()
			switch {
			case err != nil:
				return done, failed, err
			case ttl == -2 && (r.expireAt == 0 || r.expireAt > at+1): // expired by our wave meanwhile
				ops = append(ops, op{r, p.Do(ctx, restoreArgs(r)...), true})
			case ttl >= 0 && ttl <= ours.Milliseconds() && r.expireAt > 0:
				ops = append(ops, op{r, p.Do(ctx, "PEXPIREAT", r.key, r.expireAt), false})
			case ttl >= 0 && ttl <= ours.Milliseconds():
				ops = append(ops, op{r, p.Do(ctx, "PERSIST", r.key), false})
			} // otherwise no TTL or a longer one: not ours, the application's
		}
		if len(ops) == 0 {
			break
		}
		_, _ = p.Exec(ctx) // each command's own result is read below
		var again []record
		for _, o := range ops {
			v, err := o.cmd.Int64()
			if o.restore {
				v, err = 1, o.cmd.Err()
			}
			switch {
			case err != nil && strings.HasPrefix(err.Error(), "BUSYKEY"):
				again = append(again, o.r) // written again since: look at its TTL once more
			case err != nil && o.restore && keyRefused(err):
				res.fail(o.r.key, err)
				failed++
			case err != nil:
				return done, failed, err
			case v == 1:
				done++
			default:
				again = append(again, o.r) // gone between PTTL and PEXPIREAT
			}
		}
		rs = again
	}
	return done, failed, nil
}

func restoreArgs(r record) []any {
	if r.expireAt > 0 {
		return []any{"RESTORE", r.key, r.expireAt, r.dump, "ABSTTL"}
	}
	return []any{"RESTORE", r.key, int64(0), r.dump}
}

// Snapshots live in Secrets owned by the Experiment (cache values may be sensitive), in chunks
// under the API server's object size limit. Chunk 0 is written last and names the count: its
// presence means the snapshot is complete, so a restarted manager never takes a second snapshot
// of a cache it already started emptying.
const (
	chunkBytes           = 900 << 10
	maxChunks            = 300 // status.cacheFlush.snapshotSecrets lists at most this many
	annotationChunks     = "chaos.firedrill.dev/snapshot-chunks"
	annotationKeys       = "chaos.firedrill.dev/snapshot-keys"
	labelSnapshotOf      = "chaos.firedrill.dev/snapshot-of"
	snapshotDataKey      = "records"
	maxSnapshotNameChars = 200
)

func chunkName(exp *chaosv1alpha1.Experiment, i int) string {
	name := exp.Name
	if len(name) > maxSnapshotNameChars {
		name = name[:maxSnapshotNameChars]
	}
	return fmt.Sprintf("%s-cache-snapshot-%d", name, i)
}

// saveSnapshot writes the records, chunk 0 last. It returns the Secrets' names.
func saveSnapshot(ctx context.Context, c client.Client, exp *chaosv1alpha1.Experiment, rs []record) ([]string, error) {
	var chunks [][]record
	cur, size := []record(nil), 0
	for _, r := range rs {
		if r.size() > chunkBytes {
			// A chunk holds whole records and a Secret at most about 1 MiB: this one fits none.
			return nil, &errSnapshotTooLarge{fmt.Sprintf("key %q holds %d bytes serialized, over the %d one snapshot Secret takes: it cannot be snapshotted, so nothing was removed; narrow the pattern to leave it out, or flush without restore",
				truncate(r.key, 100), r.size(), chunkBytes)}
		}
		if size+r.size() > chunkBytes && len(cur) > 0 {
			chunks, cur, size = append(chunks, cur), nil, 0
		}
		cur, size = append(cur, r), size+r.size()
	}
	chunks = append(chunks, cur) // chunk 0 exists even for an empty snapshot
	if len(chunks) > maxChunks {
		return nil, &errSnapshotTooLarge{fmt.Sprintf("the snapshot needs %d Secrets, over the %d status can list: nothing was removed; lower spec.cacheFlush.restore.maxBytes or narrow the pattern", len(chunks), maxChunks)}
	}
	names := make([]string, len(chunks))
	for i := len(chunks) - 1; i >= 0; i-- {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, Name: chunkName(exp, i),
			Labels: map[string]string{labelSnapshotOf: string(exp.UID)}}, Type: corev1.SecretTypeOpaque}
		if i == 0 {
			sec.Annotations = map[string]string{annotationChunks: strconv.Itoa(len(chunks)), annotationKeys: strconv.Itoa(len(rs))}
		}
		if err := controllerutil.SetOwnerReference(exp, sec, c.Scheme()); err != nil {
			return nil, err
		}
		sec.Data = map[string][]byte{snapshotDataKey: encodeRecords(chunks[i])}
		err := c.Create(ctx, sec)
		if apierrors.IsAlreadyExists(err) { // left by an attempt that stopped before chunk 0
			err = c.Update(ctx, sec)
		}
		if err != nil {
			return nil, &apiError{fmt.Errorf("saving the snapshot in Secret %s/%s: %w", sec.Namespace, sec.Name, err)}
		}
		names[i] = sec.Name
	}
	return names, nil
}

// loadSnapshot reads a complete snapshot; ok is false when there is none (never taken, or
// already restored and removed).
func loadSnapshot(ctx context.Context, r client.Reader, exp *chaosv1alpha1.Experiment) (rs []record, names []string, ok bool, err error) {
	var head corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: exp.Namespace, Name: chunkName(exp, 0)}, &head); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, false, nil
		}
		return nil, nil, false, &apiError{fmt.Errorf("reading the snapshot: %w", err)}
	}
	if of := head.Labels[labelSnapshotOf]; of != string(exp.UID) {
		return nil, nil, false, &errForeignSnapshot{fmt.Sprintf("Secret %s/%s is not this experiment's snapshot (%s=%q; one kept after a restore that failed, see its %s annotation): restore it by hand or delete it before reusing the name (docs/cache-faults.md); nothing was removed",
			head.Namespace, head.Name, labelSnapshotOf, of, annotationRestoreFailed)}
	}
	n, err := strconv.Atoi(head.Annotations[annotationChunks])
	if err != nil || n < 1 {
		return nil, nil, false, fmt.Errorf("Secret %s/%s: bad %s annotation", head.Namespace, head.Name, annotationChunks)
	}
	for i := 0; i < n; i++ {
		sec := &head
		if i > 0 {
			sec = &corev1.Secret{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: exp.Namespace, Name: chunkName(exp, i)}, sec); err != nil {
				return nil, nil, false, &apiError{fmt.Errorf("reading snapshot chunk %d: %w", i, err)}
			}
		}
		part, err := decodeRecords(sec.Data[snapshotDataKey])
		if err != nil {
			return nil, nil, false, fmt.Errorf("Secret %s/%s: %w", sec.Namespace, sec.Name, err)
		}
		rs = append(rs, part...)
		names = append(names, sec.Name)
	}
	return rs, names, true, nil
}

// deleteSnapshot removes the chunks, chunk 0 first: without it there is no snapshot, so a pass
// interrupted halfway never finds a head whose other chunks are gone. Chunks left behind are
// owned by the Experiment and go with it.
func deleteSnapshot(ctx context.Context, c client.Client, ns string, names []string) error {
	for i := range names {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]}}
		if err := c.Delete(ctx, sec); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting snapshot Secret %s/%s: %w", ns, names[i], err)
		}
	}
	return nil
}

// annotationRestoreFailed on a snapshot Secret kept after a restore that could not be done says
// why; the Secret no longer belongs to the Experiment.
const annotationRestoreFailed = "chaos.firedrill.dev/restore-failed"

// keepSnapshot releases the snapshot's Secrets from the Experiment (its owner reference is
// removed, so deleting the Experiment does not take them with it) and notes why on each: they
// are what is left to restore by hand. Chunks already gone are skipped. An API error is returned
// (and the give-up retried).
func keepSnapshot(ctx context.Context, r client.Reader, c client.Client, exp *chaosv1alpha1.Experiment, names []string, why string) error {
	for _, name := range names {
		sec := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: exp.Namespace, Name: name}, sec); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("keeping snapshot Secret %s/%s: %w", exp.Namespace, name, err)
		}
		refs := sec.OwnerReferences[:0:0]
		for _, o := range sec.OwnerReferences {
			if o.UID != exp.UID {
				refs = append(refs, o)
			}
		}
		if len(refs) == len(sec.OwnerReferences) && sec.Annotations[annotationRestoreFailed] == why {
			continue
		}
		sec.OwnerReferences = refs
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		sec.Annotations[annotationRestoreFailed] = why
		if err := c.Update(ctx, sec); err != nil {
			return fmt.Errorf("keeping snapshot Secret %s/%s: %w", exp.Namespace, name, err)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
