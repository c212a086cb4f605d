// Package experiments will hold one package per fault kind (PodKill, the network faults,
// CacheFlush), each behind the one interface the Experiment controller drives: select targets,
// preflight, inject, recover. The Experiment engine issue adds the interface with PodKill; until
// then the controller only resolves targets (see controllers/ and internal/selector).
package experiments
