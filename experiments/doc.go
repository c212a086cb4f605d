// Package experiments defines the interface every fault kind implements; each kind lives in its
// own package below this one (podkill, and the network and cache kinds as they land). The
// Experiment controller selects targets (internal/selector), records its intent in status, and
// then drives the kind through this interface.
package experiments
