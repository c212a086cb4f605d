// Package webhookcert gives the manager's admission webhook a serving certificate it makes itself
// at start, and tells the API server to trust it: no cert-manager, no Secret to rotate. The key
// never leaves the process; a restart makes a new one and sets the caBundle again.
package webhookcert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cert is a self-signed serving certificate: the API server trusts it as its own CA bundle.
type Cert struct {
	// PEM is the certificate, the caBundle for the webhook configuration.
	PEM []byte
	tls tls.Certificate
}

// New makes a certificate for hosts (DNS names or IP addresses), valid from an hour before now
// (clock skew) for validFor.
func New(hosts []string, now time.Time, validFor time.Duration) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the webhook key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		// Its own issuer: the bundle the API server verifies the chain with is this certificate.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing the webhook certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the webhook key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, err
	}
	return &Cert{PEM: certPEM, tls: pair}, nil
}

// Serve sets the certificate on a webhook server's TLS configuration (webhook.Options.TLSOpts).
func (c *Cert) Serve(cfg *tls.Config) {
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c.tls, nil }
}

// SetCABundle sets every webhook of the MutatingWebhookConfiguration name to trust the certificate.
func (c *Cert) SetCABundle(ctx context.Context, r client.Reader, w client.Writer, name string) error {
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := r.Get(ctx, client.ObjectKey{Name: name}, &cfg); err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", name, err)
	}
	orig := cfg.DeepCopy()
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig.CABundle = c.PEM
	}
	// The lock: another writer's change to the webhooks meanwhile is not overwritten.
	if err := w.Patch(ctx, &cfg, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("setting the caBundle of MutatingWebhookConfiguration %s: %w", name, err)
	}
	return nil
}

// Trust is a manager.Runnable, on every replica, that sets the caBundle (SetCABundle) at start,
// retrying until it is set: until then the API server cannot call the webhook and, with
// failurePolicy Ignore, creates experiments unplanned.
type Trust struct {
	Cert   *Cert
	Reader client.Reader
	Writer client.Writer
	// Name of the MutatingWebhookConfiguration.
	Name string

	set atomic.Bool
}

// NeedLeaderElection is false: every replica serves the webhook.
func (t *Trust) NeedLeaderElection() bool { return false }

// Checker is a readiness check (healthz.Checker): ready once the caBundle is set.
func (t *Trust) Checker(*http.Request) error {
	if !t.set.Load() {
		return fmt.Errorf("the caBundle of MutatingWebhookConfiguration %s is not set yet", t.Name)
	}
	return nil
}

// Start sets the caBundle, retrying with a backoff of up to 30 s, then waits for the end.
func (t *Trust) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithValues("mutatingWebhookConfiguration", t.Name)
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 30 * time.Second}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		if err := t.Cert.SetCABundle(ctx, t.Reader, t.Writer, t.Name); err != nil {
			log.Error(err, "the API server cannot call the plan webhook yet: experiments are created unplanned")
			return false, nil
		}
		t.set.Store(true)
		log.Info("plan webhook trusted")
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return err
	}
	<-ctx.Done()
	return nil
}
