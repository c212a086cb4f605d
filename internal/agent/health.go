// Package agent holds the node agent's logic.
package agent

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get

// NodeCheck is ready when the agent can read its own Node: it has reached the API server with its
// own credentials and runs where it believes it runs.
func NodeCheck(r client.Reader, nodeName string) healthz.Checker {
	return func(req *http.Request) error {
		var n corev1.Node
		if err := r.Get(req.Context(), client.ObjectKey{Name: nodeName}, &n); err != nil {
			return fmt.Errorf("reading node %q: %w", nodeName, err)
		}
		return nil
	}
}
