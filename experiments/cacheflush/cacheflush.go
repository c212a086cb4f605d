// Package cacheflush is the CacheFlush fault: it empties a named Redis or Memcached server (a
// database, the whole server, or the keys matching a pattern), or makes a pattern's keys expire
// in a spread-out wave, to provoke the stampede on the store behind it. With restore it keeps a
// snapshot of what it removes and puts it back when the experiment ends.
package cacheflush

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/internal/selector"
)

// Secrets are read one by one (credentials, CA) and written for snapshots; they are never
// listed or cached.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get

// DefaultRestoreTimeout is how long a failing restore is retried by default.
const DefaultRestoreTimeout = 2 * time.Minute

// lazyFreeWait bounds how long the figures after a flush wait for Redis's background freeing.
const lazyFreeWait = 5 * time.Second

// CacheFlush implements the CacheFlush action.
type CacheFlush struct {
	// Client writes and deletes snapshot Secrets.
	Client client.Client
	// Reader reads Services and Secrets uncached.
	Reader client.Reader
	// Now is the clock for TTL arithmetic and the restore's bound; time.Now when nil.
	Now func() time.Time
	// RestoreTimeout bounds how long a restore that keeps failing is retried, from its first
	// failed attempt; DefaultRestoreTimeout when 0.
	RestoreTimeout time.Duration
	// Protected are the namespaces no experiment acts in: a cache whose Service is in one, or
	// whose address leads into one, is refused.
	Protected selector.Protected

	mu sync.Mutex
	// attempts is how far this process got with each round (see Inject).
	attempts map[attemptKey]attempt
}

type attemptKey struct {
	uid   types.UID
	round int32
}

type attempt int

const (
	attemptNone    attempt = iota // not tried by this process
	attemptStarted                // tried, failed before anything was removed
	attemptSent                   // the flush (or the removal of the snapshot's keys) was sent
)

func (f *CacheFlush) attempt(k attemptKey) attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[k]
}

func (f *CacheFlush) forget(k attemptKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attempts, k)
}

func (f *CacheFlush) setAttempt(k attemptKey, a attempt) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attempts == nil {
		f.attempts = map[attemptKey]attempt{}
	}
	f.attempts[k] = a
}

var (
	_ experiments.Fault    = (*CacheFlush)(nil)
	_ experiments.Targeter = (*CacheFlush)(nil)
)

func (f *CacheFlush) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Lasting: only a flush that restores its snapshot has something to undo when it ends.
func (*CacheFlush) Lasting(exp *chaosv1alpha1.Experiment) bool {
	return exp.Spec.CacheFlush != nil && exp.Spec.CacheFlush.Restore != nil
}

// Targets is the one cache the spec names, unless it is in a protected namespace.
func (f *CacheFlush) Targets(ctx context.Context, exp *chaosv1alpha1.Experiment) ([]chaosv1alpha1.TargetStatus, error) {
	if err := f.protectedService(exp); err != nil {
		return nil, err
	}
	addr, err := address(ctx, f.Reader, exp)
	if err != nil {
		return nil, err
	}
	if exp.Spec.CacheFlush.Address != "" {
		if err := f.protectedAddress(ctx, addr); err != nil {
			return nil, err
		}
	}
	if err := oneServer(ctx, f.Reader, exp); err != nil {
		return nil, err
	}
	e := endpoint{engine: exp.Spec.CacheFlush.Engine, addr: addr}
	if db := exp.Spec.CacheFlush.DB; db != nil {
		e.db = int(*db)
	}
	sum := sha256.Sum256([]byte(e.String()))
	return []chaosv1alpha1.TargetStatus{{Namespace: exp.Namespace, Name: e.String(),
		UID: types.UID("cache-" + hex.EncodeToString(sum[:8])), State: chaosv1alpha1.TargetSelected}}, nil
}

// Preflight connects, checks that the server is the engine named, reachable, accepts the
// credentials and is not a replica (unless allowed), and that a whole flush stays under
// maxKeys. It records the server's figures before anything is touched.
func (f *CacheFlush) Preflight(ctx context.Context, exp *chaosv1alpha1.Experiment, _ []corev1.Pod) error {
	spec := exp.Spec.CacheFlush
	e, err := resolve(ctx, f.Reader, exp)
	if err != nil {
		return err
	}
	st := status(exp)
	if spec.Engine == chaosv1alpha1.CacheMemcached {
		m, err := dialMemcached(ctx, e)
		if err != nil {
			return err
		}
		defer closeQuietly(ctx, m)
		stats, err := m.stats()
		if err != nil {
			return err
		}
		version, used, items, hits, misses := memcachedFigures(stats)
		st.Server = fmt.Sprintf("Memcached %s at %s", version, e.addr)
		st.Before = &chaosv1alpha1.CacheInfo{UsedMemory: used, Keys: items, KeyspaceHits: hits, KeyspaceMisses: misses}
		return checkCap(spec, items)
	}
	c, err := dialRedis(ctx, e)
	if err != nil {
		return err
	}
	defer closeQuietly(ctx, c)
	info, err := readRedisInfo(ctx, e, c)
	if err != nil {
		return err
	}
	if info.role != "master" && !spec.AllowReplica {
		return fmt.Errorf("Redis at %s is a replica (role %s of %s): flush its primary, or set spec.cacheFlush.allowReplica", e.addr, info.role, info.replicaOfHost)
	}
	if info.cluster {
		// Every mode would act on this node's slots only and report it as the cache's.
		return fmt.Errorf("Redis at %s runs in cluster mode (cluster_enabled:1): a flush through one node reaches only the keys of the slots it holds; Firedrill flushes standalone servers only", e.addr)
	}
	st.Server = fmt.Sprintf("Redis %s (%s) at %s db %d", info.version, info.role, e.addr, e.db)
	st.Before = redisFigures(info, spec, e.db)
	switch spec.Mode {
	case chaosv1alpha1.FlushDB:
		return checkCap(spec, info.keys(e.db))
	case chaosv1alpha1.FlushAll:
		return checkCap(spec, info.allKeys())
	}
	return nil
}

func checkCap(spec *chaosv1alpha1.CacheFlushSpec, keys int64) error {
	if spec.MaxKeys != nil && keys > *spec.MaxKeys {
		return fmt.Errorf("the server holds %d keys, over spec.cacheFlush.maxKeys %d: %s would remove them all", keys, *spec.MaxKeys, spec.Mode)
	}
	return nil
}

// Inject empties the cache as the mode says and records what it removed. With restore, the
// snapshot is saved before anything is removed, and exactly its keys are removed; a snapshot
// already saved (an attempt that failed after saving it) is used as is, never taken again.
//
// A flush leaves nothing to check it by: once one may have run for the round, it is not run
// again. A resumed round (its intent recorded, its outcome not) is flushed only if nothing can
// have been removed yet: this process tried it and failed before sending anything, or, with
// restore, no complete snapshot was saved (nothing is removed before it is). Otherwise (a
// restart, or a failure once a removal was sent) it is marked notRepeated. Never twice; at
// worst, after a crash at the wrong moment, not at all, and the status says so.
func (f *CacheFlush) Inject(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	spec := exp.Spec.CacheFlush
	st := status(exp)
	key := attemptKey{exp.UID, t.Round}
	if resumed && f.attempt(key) != attemptStarted {
		var rs []record
		var names []string
		saved := false
		if spec.Restore != nil {
			var err error
			if rs, names, saved, err = loadSnapshot(ctx, f.Reader, exp); err != nil {
				return err
			}
		}
		if spec.Restore == nil || saved {
			f.forget(key)
			notRepeated(ctx, st, rs, names)
			return nil
		}
		// With restore and no complete snapshot saved, nothing was removed: a first attempt.
	}
	f.setAttempt(key, attemptStarted)
	e, err := resolve(ctx, f.Reader, exp)
	if err != nil {
		return err
	}
	start := f.now()
	if spec.Engine == chaosv1alpha1.CacheMemcached {
		if err := f.flushMemcached(ctx, e, spec, st, start, func() { f.setAttempt(key, attemptSent) }); err != nil {
			return err
		}
		f.forget(key)
		return nil
	}
	c, err := dialRedis(ctx, e)
	if err != nil {
		return refusal(err)
	}
	defer closeQuietly(ctx, c)
	before, err := readRedisInfo(ctx, e, c)
	if err != nil {
		return refusal(err)
	}
	if before.role != "master" && !spec.AllowReplica {
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonCacheRefused,
			Message: fmt.Sprintf("Redis at %s became a replica (role %s) before the flush: nothing was removed", e.addr, before.role)}
	}
	st.Before = redisFigures(before, spec, e.db)
	start = f.now()
	batch := batchSize(spec)
	var maxKeys int64
	if spec.MaxKeys != nil {
		maxKeys = *spec.MaxKeys
	}
	x := Expiry{LT: before.majorVersion >= 7}
	if spec.Expire != nil {
		x.TTL = spec.Expire.TTL.Duration
		if spec.Expire.Jitter != nil {
			x.Jitter = spec.Expire.Jitter.Duration
		}
	}
	var res PatternResult
	// sent is called just before the first command that removes or expires anything.
	sent := func() { f.setAttempt(key, attemptSent) }
	switch {
	case spec.Restore != nil:
		res, err = f.withSnapshot(ctx, c, exp, batch, maxKeys, x, st, sent)
	case spec.Mode == chaosv1alpha1.FlushDB:
		sent()
		err = c.FlushDBAsync(ctx).Err()
	case spec.Mode == chaosv1alpha1.FlushAll:
		sent()
		err = c.FlushAllAsync(ctx).Err()
	case spec.Mode == chaosv1alpha1.DeletePattern:
		res, err = deletePattern(ctx, c, spec.Pattern, batch, maxKeys, sent)
	case spec.Mode == chaosv1alpha1.ExpirePattern:
		res, err = expirePattern(ctx, c, spec.Pattern, batch, maxKeys, x, sent)
	}
	if err != nil {
		var big *errSnapshotTooLarge
		var foreign *errForeignSnapshot
		var api *apiError
		switch {
		case errors.As(err, &big):
			return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonCacheRefused, Message: big.Error()}
		case errors.As(err, &foreign):
			return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonCacheRefused, Message: foreign.Error()}
		case errors.As(err, &api):
			return err // the API server, not the cache: retried
		}
		return refusal(redisError(e, string(spec.Mode), err))
	}
	st.Duration = &metav1.Duration{Duration: f.now().Sub(start)}
	f.forget(key) // done: a pass resuming the round (its status write lost) finds no attempt, and does not repeat it
	st.Capped = res.Capped
	switch spec.Mode {
	case chaosv1alpha1.DeletePattern:
		st.KeysRemoved = res.Affected
	case chaosv1alpha1.ExpirePattern:
		st.KeysExpired = res.Affected
	}
	after, err := awaitLazyFree(ctx, e, c, lazyFreeWait)
	if err != nil {
		// The flush is done: failing now would only have it resumed, not repeated.
		ctrl.LoggerFrom(ctx).Info("cache flushed; its figures after could not be read", "server", e.String(), "error", err.Error())
		return nil
	}
	st.After = redisFigures(after, spec, e.db)
	if spec.Mode == chaosv1alpha1.FlushDB || spec.Mode == chaosv1alpha1.FlushAll {
		st.KeysRemoved = max(st.Before.Keys-st.After.Keys, 0)
	}
	st.BytesFreed = max(st.Before.UsedMemory-st.After.UsedMemory, 0)
	ctrl.LoggerFrom(ctx).Info("cache flushed", "server", e.String(), "mode", spec.Mode,
		"keysRemoved", st.KeysRemoved, "keysExpired", st.KeysExpired, "duration", st.Duration.Duration)
	return nil
}

// notRepeated records a resumed round whose flush may have run already, without running it
// again; with restore, it reports the saved snapshot, which the end of the experiment puts back.
func notRepeated(ctx context.Context, st *chaosv1alpha1.CacheFlushStatus, rs []record, names []string) {
	st.NotRepeated = true
	if names != nil {
		setSnapshotFigures(st, rs, names)
	}
	ctrl.LoggerFrom(ctx).Info("resumed a cache flush that may have run before; not repeated", "snapshotKeys", st.SnapshotKeys)
}

func setSnapshotFigures(st *chaosv1alpha1.CacheFlushStatus, rs []record, names []string) {
	st.SnapshotKeys, st.SnapshotSecrets, st.SnapshotBytes = int64(len(rs)), names, 0
	for _, r := range rs {
		st.SnapshotBytes += int64(len(r.key) + len(r.dump))
	}
}

// withSnapshot saves (or finds) the snapshot, then removes or expires exactly its keys (sent is
// called just before the first removal).
func (f *CacheFlush) withSnapshot(ctx context.Context, c *redis.Client, exp *chaosv1alpha1.Experiment, batch int, maxKeys int64, x Expiry, st *chaosv1alpha1.CacheFlushStatus, sent func()) (PatternResult, error) {
	spec := exp.Spec.CacheFlush
	rs, names, ok, err := loadSnapshot(ctx, f.Reader, exp)
	if err != nil {
		return PatternResult{}, err
	}
	if !ok {
		if rs, err = takeSnapshot(ctx, c, spec.Pattern, batch, maxKeys, *spec.Restore, f.now); err != nil {
			return PatternResult{}, err
		}
		if names, err = saveSnapshot(ctx, f.Client, exp, rs); err != nil {
			return PatternResult{}, err
		}
	}
	setSnapshotFigures(st, rs, names)
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.key
	}
	res := PatternResult{Matched: int64(len(keys)), Capped: maxKeys > 0 && int64(len(keys)) >= maxKeys}
	sent()
	if spec.Mode == chaosv1alpha1.ExpirePattern {
		for i := 0; i < len(keys); i += batch {
			n, err := expireKeys(ctx, c, keys[i:min(i+batch, len(keys))], x)
			res.Affected += n
			if err != nil {
				return res, err
			}
		}
		return res, nil
	}
	res.Affected, err = unlinkKeys(ctx, c, keys, batch)
	return res, err
}

func (f *CacheFlush) flushMemcached(ctx context.Context, e endpoint, spec *chaosv1alpha1.CacheFlushSpec, st *chaosv1alpha1.CacheFlushStatus, start time.Time, sent func()) error {
	m, err := dialMemcached(ctx, e)
	if err != nil {
		return refusal(err)
	}
	defer closeQuietly(ctx, m)
	before, err := m.stats()
	if err != nil {
		return refusal(err)
	}
	_, used, items, hits, misses := memcachedFigures(before)
	st.Before = &chaosv1alpha1.CacheInfo{UsedMemory: used, Keys: items, KeyspaceHits: hits, KeyspaceMisses: misses}
	var delay time.Duration
	if spec.FlushDelay != nil {
		delay = spec.FlushDelay.Duration
	}
	start = f.now()
	sent()
	if err := m.flushAll(delay); err != nil {
		// A reply (flush_all disabled with -F, say) is a refusal: nothing was flushed. A lost
		// connection may have flushed, and is not repeated.
		return refusal(err)
	}
	st.Duration = &metav1.Duration{Duration: f.now().Sub(start)}
	// flush_all invalidates every item at once but Memcached reclaims them lazily: curr_items
	// and bytes only fall as items are touched or crawled. Every item present is gone for
	// clients, so that is the count recorded.
	st.KeysRemoved = st.Before.Keys
	after, err := m.stats()
	if err != nil {
		// The flush is done: failing now would only have it resumed, not repeated.
		ctrl.LoggerFrom(ctx).Info("cache flushed; its figures after could not be read", "server", e.String(), "error", err.Error())
		return nil
	}
	_, used, items, hits, misses = memcachedFigures(after)
	st.After = &chaosv1alpha1.CacheInfo{UsedMemory: used, Keys: items, KeyspaceHits: hits, KeyspaceMisses: misses}
	st.BytesFreed = max(st.Before.UsedMemory-st.After.UsedMemory, 0)
	return nil
}

// Recover puts a snapshot back (restore only) and deletes its Secrets. Without a snapshot (never
// taken, or already restored) there is nothing to do.
//
// A restore is bounded: a key Redis refuses for good (keyRefused) is counted and the others are
// restored; a restore that fails as a whole (the Service or the credentials gone, the server
// unreachable, the ACL user refused RESTORE) is retried until RestoreTimeout after its first
// failed attempt (status.cacheFlush.restoreFailingSince). Either way, once it cannot be done, the
// snapshot Secrets are kept (released from the Experiment, so that deleting it does not remove
// them) and an experiments.PermanentError with ReasonRestoreFailed says what failed and where the
// snapshot is: the engine records it and ends the experiment, or lets a deleted one go. An API
// error reading the snapshot is not the restore's failure: it is returned and retried.
func (f *CacheFlush) Recover(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	f.forget(attemptKey{exp.UID, t.Round})
	spec := exp.Spec.CacheFlush
	if spec == nil || spec.Restore == nil {
		return nil
	}
	rs, names, ok, err := loadSnapshot(ctx, f.Reader, exp)
	var foreign *errForeignSnapshot
	if errors.As(err, &foreign) {
		// Another Experiment's snapshot, kept after its restore failed: this one was refused
		// before it saved or removed anything, so it has nothing to restore, and leaves it be.
		return nil
	}
	if err != nil {
		return err
	}
	st := status(exp)
	if !ok {
		if len(st.SnapshotSecrets) > 0 && st.RestoredAt == nil {
			// Saved, never put back, and its head is gone: deleted from under the experiment
			// (its namespace deleted, a cascading delete, by hand). Said, not passed as restored.
			return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonRestoreFailed,
				Message: fmt.Sprintf("the snapshot's Secrets (%s/%s) are gone and no restore was recorded: they were deleted before the restore, so the cache was not put back",
					exp.Namespace, strings.Join(st.SnapshotSecrets, ", "))}
		}
		return nil // nothing was saved, or it was restored
	}
	res, addr, err := f.restore(ctx, exp, rs)
	if err != nil {
		return f.restoreFailed(ctx, exp, names, err)
	}
	st.RestoreFailingSince = nil
	st.RestoredKeys, st.RestoreSkippedPresent, st.RestoreSkippedExpired = res.Restored, res.SkippedPresent, res.SkippedExpired
	st.RestoreFailedKeys = res.Failed
	st.RestoredAt = &metav1.Time{Time: f.now()}
	ctrl.LoggerFrom(ctx).Info("cache snapshot restored", "server", addr, "restored", res.Restored,
		"skippedPresent", res.SkippedPresent, "skippedExpired", res.SkippedExpired, "failed", res.Failed)
	if res.Failed > 0 {
		return f.giveUp(ctx, exp, names, fmt.Sprintf("Redis at %s refused %d of the snapshot's %d keys for good (first: %s); %d restored",
			addr, res.Failed, len(rs), res.FirstFailure, res.Restored))
	}
	return deleteSnapshot(ctx, f.Client, exp.Namespace, names)
}

// restore puts rs back into the experiment's server; it returns the server's address for the
// messages.
func (f *CacheFlush) restore(ctx context.Context, exp *chaosv1alpha1.Experiment, rs []record) (RestoreResult, string, error) {
	spec := exp.Spec.CacheFlush
	e, err := resolve(ctx, f.Reader, exp)
	if err != nil {
		return RestoreResult{}, "", err
	}
	c, err := dialRedis(ctx, e)
	if err != nil {
		return RestoreResult{}, e.String(), err
	}
	defer closeQuietly(ctx, c)
	var ours time.Duration
	if x := spec.Expire; x != nil && spec.Mode == chaosv1alpha1.ExpirePattern {
		ours = x.TTL.Duration
		if x.Jitter != nil {
			ours += x.Jitter.Duration
		}
	}
	res, err := restoreRecords(ctx, c, rs, batchSize(spec), ours, f.now)
	if err != nil {
		return res, e.String(), redisError(e, "RESTORE", err)
	}
	return res, e.String(), nil
}

// restoreFailed records a failed restore attempt: retried (the error returned) until
// RestoreTimeout after the first one, then given up.
func (f *CacheFlush) restoreFailed(ctx context.Context, exp *chaosv1alpha1.Experiment, names []string, err error) error {
	st := status(exp)
	now := f.now()
	if st.RestoreFailingSince == nil {
		st.RestoreFailingSince = &metav1.Time{Time: now}
	}
	since, bound := st.RestoreFailingSince.Time, f.restoreTimeout()
	if now.Sub(since) < bound {
		return fmt.Errorf("restoring the cache snapshot: %v (failing since %s; given up %s after that)", err, since.UTC().Format(time.RFC3339), bound)
	}
	return f.giveUp(ctx, exp, names, fmt.Sprintf("the cache snapshot could not be restored for %s: %v", bound, err))
}

// giveUp keeps the snapshot Secrets for a restore by hand and returns the PermanentError that
// ends the recovery. Keeping them is an API write: its error is returned, and retried.
func (f *CacheFlush) giveUp(ctx context.Context, exp *chaosv1alpha1.Experiment, names []string, why string) error {
	secrets := strings.Join(names, ", ")
	if len(names) > 3 {
		secrets = fmt.Sprintf("%s … %s (%d, labelled %s=%s)", names[0], names[len(names)-1], len(names), labelSnapshotOf, exp.UID)
	}
	msg := fmt.Sprintf("%s; the snapshot is kept in Secrets %s/%s, no longer owned by the Experiment: restore it by hand or delete them (docs/cache-faults.md)",
		why, exp.Namespace, secrets)
	if err := keepSnapshot(ctx, f.Reader, f.Client, exp, names, why); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("cache restore given up; snapshot kept", "reason", why, "secrets", names)
	return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonRestoreFailed, Message: msg}
}

func (f *CacheFlush) restoreTimeout() time.Duration {
	if f.RestoreTimeout > 0 {
		return f.RestoreTimeout
	}
	return DefaultRestoreTimeout
}

// batchSize is spec.batchSize, or the schema's default for an object stored without it.
func batchSize(spec *chaosv1alpha1.CacheFlushSpec) int {
	if spec.BatchSize <= 0 {
		return 500
	}
	return int(spec.BatchSize)
}

func status(exp *chaosv1alpha1.Experiment) *chaosv1alpha1.CacheFlushStatus {
	if exp.Status.CacheFlush == nil {
		exp.Status.CacheFlush = &chaosv1alpha1.CacheFlushStatus{}
	}
	return exp.Status.CacheFlush
}

func redisFigures(i redisInfo, spec *chaosv1alpha1.CacheFlushSpec, db int) *chaosv1alpha1.CacheInfo {
	keys := i.keys(db)
	if spec.Mode == chaosv1alpha1.FlushAll {
		keys = i.allKeys()
	}
	return &chaosv1alpha1.CacheInfo{UsedMemory: i.usedMemory, Keys: keys, KeyspaceHits: i.hits, KeyspaceMisses: i.misses}
}

// refusal marks what the server refused at flush time as permanent (retrying cannot fix
// credentials or a wrong server), and leaves a connection failure to be retried.
func refusal(err error) error {
	if unreachable(err) {
		return err
	}
	return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonCacheRefused, Message: err.Error()}
}

func closeQuietly(ctx context.Context, c interface{ Close() error }) {
	if err := c.Close(); err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("closing the cache connection", "error", err.Error())
	}
}
