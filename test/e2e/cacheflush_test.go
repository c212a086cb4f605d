//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/firedrill-dev/firedrill/test/cachetest"
)

// cacheFlush empties a real redis-server through a Service from the manager pod: the Service
// has no selector, its EndpointSlice points at the server on the node IP, and the manager
// reaches it through its cluster IP (kube-proxy), with an ACL user's credentials from a Secret.
// The snapshot is put back when the experiment's duration ends.
func cacheFlush(t *testing.T) {
	const password = "e2e-acl-Hn72"
	srv := cachetest.StartRedis(t, cachetest.WithHost(nodeIP), cachetest.WithACLUser("chaos", password, "~*", "&*", "+@all"))
	_, port, _ := net.SplitHostPort(srv.Addr)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "chaos", Password: password})
	t.Cleanup(func() { _ = c.Close() })
	p := c.Pipeline()
	for i := range 500 {
		p.Set(t.Context(), "product:"+strconv.Itoa(i), "page", 0)
	}
	p.Set(t.Context(), "config:flags", "on", 0)
	if _, err := p.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	applyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: catalog-redis-chaos, namespace: firedrill-demo}
stringData: {username: chaos, password: %q}
---
apiVersion: v1
kind: Service
metadata: {name: catalog-redis, namespace: firedrill-demo}
spec:
  ports: [{name: resp, port: 6379, targetPort: %s}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: catalog-redis-node
  namespace: firedrill-demo
  labels: {kubernetes.io/service-name: catalog-redis}
addressType: IPv4
ports: [{name: resp, port: %s, protocol: TCP}]
endpoints: [{addresses: [%q]}]
---
apiVersion: chaos.firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: catalog-drop-products, namespace: firedrill-demo}
spec:
  action: CacheFlush
  duration: 5s
  cacheFlush:
    engine: Redis
    service: {name: catalog-redis, port: resp}
    credentialsSecretName: catalog-redis-chaos
    mode: DeletePattern
    pattern: "product:*"
    restore: {maxKeys: 1000}
`, password, port, port, nodeIP))
	kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=90s", "experiment/catalog-drop-products")
	got := kubectl(t, "-n", "firedrill-demo", "get", "experiment", "catalog-drop-products", "-o",
		`jsonpath={.status.cacheFlush.keysRemoved} {.status.cacheFlush.snapshotKeys} {.status.cacheFlush.restoredKeys} {.status.targets[0].name}`)
	f := strings.Fields(got)
	if len(f) != 4 || f[0] != "500" || f[1] != "500" || f[2] != "500" || !strings.HasPrefix(f[3], "redis://10.") {
		t.Errorf("status %q: want 500 removed, snapshotted and restored, through the Service's cluster IP", got)
	}
	if n := c.DBSize(t.Context()).Val(); n != 501 {
		t.Errorf("%d keys in the server after the restore, want 501", n)
	}
	if logs := kubectl(t, "-n", "firedrill-system", "logs", "deployment/firedrill-manager"); strings.Contains(logs, password) {
		t.Error("the manager pod's logs contain the password")
	}
	kubectl(t, "-n", "firedrill-demo", "delete", "experiment", "catalog-drop-products", "--wait=true")
}
