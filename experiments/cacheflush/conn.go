package cacheflush

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
)

// DefaultTimeout bounds connecting and each command when spec.cacheFlush.timeout is unset.
const DefaultTimeout = 5 * time.Second

// msgUnreachable starts the message of a server that could not be reached.
const msgUnreachable = "cannot reach"

// endpoint is where and how to connect; credentials are kept out of every message.
type endpoint struct {
	engine   chaosv1alpha1.CacheEngine
	addr     string
	db       int
	username string
	password string
	// credsFrom names the Secret the credentials came from, for messages.
	credsFrom string
	tls       *tls.Config
	timeout   time.Duration
}

// String names the server for status and messages: engine, address and database.
func (e endpoint) String() string {
	if e.engine == chaosv1alpha1.CacheMemcached {
		return "memcached://" + e.addr
	}
	return fmt.Sprintf("redis://%s/%d", e.addr, e.db)
}

// address resolves spec.cacheFlush.address or .service to host:port. A Service resolves to its
// cluster IP and port: the manager runs in the cluster, and needs no DNS for it.
func address(ctx context.Context, r client.Reader, exp *chaosv1alpha1.Experiment) (string, error) {
	spec := exp.Spec.CacheFlush
	if spec.Address != "" {
		return spec.Address, nil
	}
	ref := spec.Service
	ns := ref.NamespaceOr(exp.Namespace)
	var svc corev1.Service
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
				Message: fmt.Sprintf("spec.cacheFlush.service: Service %s/%s not found", ns, ref.Name)}
		}
		return "", fmt.Errorf("reading Service %s/%s: %w: %w", ns, ref.Name, experiments.ErrTransient, err)
	}
	return serviceAddress(&svc, ref.Port)
}

// serviceAddress picks the Service port named or numbered by port, at the cluster IP.
func serviceAddress(svc *corev1.Service, port intstr.IntOrString) (string, error) {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return "", &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
			Message: fmt.Sprintf("spec.cacheFlush.service: Service %s/%s has no cluster IP (headless): name the server by address instead", svc.Namespace, svc.Name)}
	}
	for _, p := range svc.Spec.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.Port == port.IntVal) {
			return net.JoinHostPort(ip, strconv.Itoa(int(p.Port))), nil
		}
	}
	return "", &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
		Message: fmt.Sprintf("spec.cacheFlush.service.port: Service %s/%s has no port %s", svc.Namespace, svc.Name, port.String())}
}

// resolve builds the endpoint of an experiment: address, credentials and TLS from their Secrets.
func resolve(ctx context.Context, r client.Reader, exp *chaosv1alpha1.Experiment) (endpoint, error) {
	spec := exp.Spec.CacheFlush
	addr, err := address(ctx, r, exp)
	if err != nil {
		return endpoint{}, err
	}
	e := endpoint{engine: spec.Engine, addr: addr, timeout: DefaultTimeout}
	if spec.DB != nil {
		e.db = int(*spec.DB)
	}
	if spec.Timeout != nil {
		e.timeout = spec.Timeout.Duration
	}
	if name := spec.CredentialsSecretName; name != "" {
		sec, err := secret(ctx, r, exp.Namespace, name, "spec.cacheFlush.credentialsSecretName")
		if err != nil {
			return endpoint{}, err
		}
		pw, ok := sec.Data["password"]
		if !ok {
			return endpoint{}, &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
				Message: fmt.Sprintf("spec.cacheFlush.credentialsSecretName: Secret %s/%s has no key \"password\"", exp.Namespace, name)}
		}
		e.password, e.username = string(pw), string(sec.Data["username"])
		e.credsFrom = exp.Namespace + "/" + name
	}
	if t := spec.TLS; t != nil {
		host, _, _ := net.SplitHostPort(addr)
		if ref := spec.Service; ref != nil {
			// Reached at its cluster IP, which certificates rarely carry: check the name
			// clients use for it instead.
			host = ref.Name + "." + ref.NamespaceOr(exp.Namespace) + ".svc"
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as for test servers
		if t.ServerName != "" {
			cfg.ServerName = t.ServerName
		}
		if t.CASecretName != "" {
			sec, err := secret(ctx, r, exp.Namespace, t.CASecretName, "spec.cacheFlush.tls.caSecretName")
			if err != nil {
				return endpoint{}, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(sec.Data["ca.crt"]) {
				return endpoint{}, &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
					Message: fmt.Sprintf("spec.cacheFlush.tls.caSecretName: Secret %s/%s has no PEM certificate under key \"ca.crt\"", exp.Namespace, t.CASecretName)}
			}
			cfg.RootCAs = pool
		}
		e.tls = cfg
	}
	return e, nil
}

func secret(ctx context.Context, r client.Reader, ns, name, field string) (*corev1.Secret, error) {
	var sec corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
				Message: fmt.Sprintf("%s: Secret %s/%s not found", field, ns, name)}
		}
		return nil, fmt.Errorf("%s: reading Secret %s/%s: %w: %w", field, ns, name, experiments.ErrTransient, err)
	}
	return &sec, nil
}

// unreachable says whether err is a failure to connect or a lost connection (as opposed to a
// refusal by the server): worth retrying at flush time.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
