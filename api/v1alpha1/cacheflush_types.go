package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CacheEngine names the cache server's protocol.
// +kubebuilder:validation:Enum=Redis;Memcached
type CacheEngine string

const (
	CacheRedis     CacheEngine = "Redis"
	CacheMemcached CacheEngine = "Memcached"
)

// CacheFlushMode says what a CacheFlush empties.
// +kubebuilder:validation:Enum=FlushDB;FlushAll;DeletePattern;ExpirePattern
type CacheFlushMode string

const (
	// FlushDB empties one Redis database (spec.cacheFlush.db).
	FlushDB CacheFlushMode = "FlushDB"
	// FlushAll empties every Redis database, or a whole Memcached server (flush_all).
	FlushAll CacheFlushMode = "FlushAll"
	// DeletePattern unlinks the keys matching a pattern, found by SCAN in batches (never KEYS).
	DeletePattern CacheFlushMode = "DeletePattern"
	// ExpirePattern gives the keys matching a pattern a short TTL spread with jitter: a real
	// expiry wave rather than an instant hole.
	ExpirePattern CacheFlushMode = "ExpirePattern"
)

// CacheServiceRef names a Kubernetes Service in front of the cache. The manager connects to the
// Service's cluster IP and port, so no cluster DNS is needed.
type CacheServiceRef struct {
	// name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
	// namespace of the Service; defaults to the Experiment's. Protected namespaces are refused:
	// the three below at apply time, Firedrill's own and the configured ones when it starts.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['kube-system', 'kube-public', 'kube-node-lease'])",message="kube-system, kube-public and kube-node-lease are protected namespaces: no experiment acts in them"
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// port of the Service, by number or name.
	// +required
	Port intstr.IntOrString `json:"port"`
}

// NamespaceOr is the Service's namespace: its own, or def (the Experiment's) when unset.
func (r *CacheServiceRef) NamespaceOr(def string) string {
	if r.Namespace != "" {
		return r.Namespace
	}
	return def
}

// CacheTLS connects over TLS.
type CacheTLS struct {
	// caSecretName is a Secret in the Experiment's namespace whose ca.crt verifies the server;
	// unset uses the system roots.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CASecretName string `json:"caSecretName,omitempty"`
	// serverName checked against the certificate; defaults to the address's host, or for a
	// service to <name>.<namespace>.svc (not its cluster IP).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServerName string `json:"serverName,omitempty"`
	// insecureSkipVerify accepts any certificate. For test servers only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// CacheExpire spreads the TTLs of a mass expiry: each key gets ttl plus a random share of jitter.
type CacheExpire struct {
	// ttl is the shortest TTL given.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('24h')",message="spec.cacheFlush.expire.ttl must be between 1ms and 24h"
	// +required
	TTL metav1.Duration `json:"ttl"`
	// jitter: each TTL is ttl + a uniform random value in [0, jitter).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('24h')",message="spec.cacheFlush.expire.jitter must be between 0s and 24h"
	// +optional
	Jitter *metav1.Duration `json:"jitter,omitempty"`
}

// CacheRestore snapshots the matching keys (DUMP, with their TTLs) before they are removed and
// restores them when the experiment ends, is aborted or is deleted. Keys written again in the
// meantime keep their new value; keys whose TTL ran out in the meantime are not brought back.
type CacheRestore struct {
	// maxKeys: the snapshot refuses to start the flush when more keys match.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +kubebuilder:default=10000
	// +optional
	MaxKeys int64 `json:"maxKeys,omitempty"`
	// maxBytes of serialized values: the snapshot refuses to start the flush beyond it. It is
	// kept in Secrets owned by the Experiment, in chunks under 1 MiB.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=268435456
	// +kubebuilder:default=8388608
	// +optional
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

// CacheFlushSpec holds the settings of a CacheFlush experiment. The cache is always named
// explicitly, by address or Service.
// +kubebuilder:validation:XValidation:rule="has(self.address) != has(self.service)",message="spec.cacheFlush: set exactly one of address and service"
// +kubebuilder:validation:XValidation:rule="self.engine == 'Redis' || self.mode == 'FlushAll'",message="spec.cacheFlush.mode must be FlushAll for Memcached (flush_all)"
// +kubebuilder:validation:XValidation:rule="(self.mode in ['DeletePattern', 'ExpirePattern']) == has(self.pattern)",message="spec.cacheFlush.pattern is required for DeletePattern and ExpirePattern, and only for them"
// +kubebuilder:validation:XValidation:rule="(self.mode == 'ExpirePattern') == has(self.expire)",message="spec.cacheFlush.expire is required for ExpirePattern, and only for it"
// +kubebuilder:validation:XValidation:rule="!has(self.restore) || self.mode in ['DeletePattern', 'ExpirePattern']",message="spec.cacheFlush.restore needs mode DeletePattern or ExpirePattern"
// +kubebuilder:validation:XValidation:rule="!has(self.db) || self.engine == 'Redis'",message="spec.cacheFlush.db is for Redis only"
// +kubebuilder:validation:XValidation:rule="!has(self.db) || self.mode != 'FlushAll'",message="spec.cacheFlush.db does not apply to FlushAll, which empties every database"
// +kubebuilder:validation:XValidation:rule="!has(self.flushDelay) || self.engine == 'Memcached'",message="spec.cacheFlush.flushDelay is for Memcached only"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || self.engine == 'Redis'",message="spec.cacheFlush.tls is for Redis only"
type CacheFlushSpec struct {
	// engine is the cache server's protocol.
	// +required
	Engine CacheEngine `json:"engine"`

	// address is host:port of the server.
	// +kubebuilder:validation:MaxLength=261
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$`
	// +optional
	Address string `json:"address,omitempty"`

	// service names a Service in front of the server.
	// +optional
	Service *CacheServiceRef `json:"service,omitempty"`

	// credentialsSecretName is a Secret in the Experiment's namespace with key password, and
	// key username for a Redis ACL user (or Memcached ASCII auth).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// tls connects to Redis over TLS.
	// +optional
	TLS *CacheTLS `json:"tls,omitempty"`

	// db is the Redis database index; default 0.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1023
	// +optional
	DB *int32 `json:"db,omitempty"`

	// mode says what is emptied.
	// +required
	Mode CacheFlushMode `json:"mode"`

	// pattern is a Redis glob (SCAN MATCH), e.g. "session:*".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Pattern string `json:"pattern,omitempty"`

	// maxKeys caps the keys one experiment removes or expires: a pattern mode stops there, and
	// FlushDB or FlushAll is refused when the server holds more.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxKeys *int64 `json:"maxKeys,omitempty"`

	// batchSize is the SCAN COUNT and the keys per UNLINK or PEXPIRE pipeline.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=500
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`

	// expire spreads the TTLs of ExpirePattern.
	// +optional
	Expire *CacheExpire `json:"expire,omitempty"`

	// flushDelay makes Memcached's flush_all take effect after this delay.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="spec.cacheFlush.flushDelay must be between 0s and 720h"
	// +optional
	FlushDelay *metav1.Duration `json:"flushDelay,omitempty"`

	// restore snapshots the matching keys and puts them back at the end.
	// +optional
	Restore *CacheRestore `json:"restore,omitempty"`

	// allowReplica flushes a Redis replica. Without it a replica is refused: writes to a replica
	// fail or are lost on resync, and the primary is usually what was meant.
	// +optional
	AllowReplica bool `json:"allowReplica,omitempty"`

	// timeout bounds connecting and each command.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10ms') && duration(self) <= duration('60s')",message="spec.cacheFlush.timeout must be between 10ms and 60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// CacheInfo holds a server's figures at one moment.
type CacheInfo struct {
	// usedMemory in bytes (Redis used_memory, Memcached bytes).
	UsedMemory int64 `json:"usedMemory"`
	// keys in the flushed database (Redis) or items (Memcached curr_items).
	Keys int64 `json:"keys"`
	// keyspaceHits and keyspaceMisses since the server started (Memcached get_hits/get_misses).
	KeyspaceHits   int64 `json:"keyspaceHits"`
	KeyspaceMisses int64 `json:"keyspaceMisses"`
}

// CacheFlushStatus records what a CacheFlush did.
type CacheFlushStatus struct {
	// server flushed: engine, version, address and database.
	// +optional
	Server string `json:"server,omitempty"`
	// keysRemoved by the flush or the pattern deletion (for FlushDB and FlushAll: the keys the
	// database held, by DBSIZE before and after).
	KeysRemoved int64 `json:"keysRemoved"`
	// keysExpired: the keys given a short TTL by ExpirePattern.
	// +optional
	KeysExpired int64 `json:"keysExpired,omitempty"`
	// bytesFreed is used memory before minus after (after lazy freeing has finished).
	BytesFreed int64 `json:"bytesFreed"`
	// duration of the flush itself.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// capped is true when maxKeys stopped a pattern mode early.
	// +optional
	Capped bool `json:"capped,omitempty"`
	// before and after the flush.
	// +optional
	Before *CacheInfo `json:"before,omitempty"`
	// +optional
	After *CacheInfo `json:"after,omitempty"`
	// snapshotKeys and snapshotBytes kept for restore, in snapshotSecrets.
	// +optional
	SnapshotKeys int64 `json:"snapshotKeys,omitempty"`
	// +optional
	SnapshotBytes int64 `json:"snapshotBytes,omitempty"`
	// +kubebuilder:validation:MaxItems=300
	// +listType=atomic
	// +optional
	SnapshotSecrets []string `json:"snapshotSecrets,omitempty"`
	// restoredKeys were put back; restoreSkippedPresent were written again meanwhile and kept
	// their new value; restoreSkippedExpired would have expired by now.
	// +optional
	RestoredKeys int64 `json:"restoredKeys,omitempty"`
	// +optional
	RestoreSkippedPresent int64 `json:"restoreSkippedPresent,omitempty"`
	// +optional
	RestoreSkippedExpired int64 `json:"restoreSkippedExpired,omitempty"`
	// restoreFailedKeys could not be restored: Redis refused their saved value for good (a DUMP
	// payload of another RDB version, a corrupt record). The others are restored, and the
	// snapshot Secrets are kept (see the Recovered condition).
	// +optional
	RestoreFailedKeys int64 `json:"restoreFailedKeys,omitempty"`
	// restoredAt is when the snapshot was put back.
	// +optional
	RestoredAt *metav1.Time `json:"restoredAt,omitempty"`
	// restoreFailingSince is when the first failed attempt to restore the snapshot was made
	// (cleared when one succeeds). A restore still failing the manager's cache restore timeout
	// after it is given up: the Recovered condition says RestoreFailed and the snapshot Secrets
	// are kept for a restore by hand.
	// +optional
	RestoreFailingSince *metav1.Time `json:"restoreFailingSince,omitempty"`
	// notRepeated is set when the round was resumed after its flush may already have run, in
	// full, in part or not at all (a manager that restarted since, or a connection lost once a
	// removal was sent). A flush leaves nothing to check it by, so it was not run again: a cache
	// is never emptied twice for one round. The figures of that earlier attempt are not known;
	// with restore, the saved snapshot is reported and put back.
	// +optional
	NotRepeated bool `json:"notRepeated,omitempty"`
}
