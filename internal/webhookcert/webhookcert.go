// Package webhookcert gives the manager's admission webhook a serving certificate it makes itself
// at start, and tells the API server to trust it: no cert-manager, no Secret to rotate. The key
// never leaves the process; a restart makes a new one and sets the caBundle again.
package webhookcert

import (
	"bytes"
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

// SetCABundle sets every webhook of the MutatingWebhookConfiguration name to trust the
// certificate, and says whether it had to (false: every webhook trusted it already).
func (c *Cert) SetCABundle(ctx context.Context, r client.Reader, w client.Writer, name string) (changed bool, err error) {
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := r.Get(ctx, client.ObjectKey{Name: name}, &cfg); err != nil {
		return false, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", name, err)
	}
	if len(cfg.Webhooks) == 0 {
		return false, fmt.Errorf("MutatingWebhookConfiguration %s has no webhooks", name)
	}
	orig := cfg.DeepCopy()
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, c.PEM) {
			cfg.Webhooks[i].ClientConfig.CABundle, changed = c.PEM, true
		}
	}
	if !changed {
		return false, nil
	}
	// The lock: another writer's change to the webhooks meanwhile is not overwritten.
	if err := w.Patch(ctx, &cfg, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("setting the caBundle of MutatingWebhookConfiguration %s: %w", name, err)
	}
	return true, nil
}

// Trust is a manager.Runnable, on every replica, that keeps the webhook configuration's caBundle
// set to the certificate: at start, retrying until it is set, then checking every Recheck (a
// configuration applied again or recreated has lost it). Until it is set the API server cannot
// call the webhook and, with failurePolicy Ignore, creates experiments unplanned.
type Trust struct {
	Cert   *Cert
	Reader client.Reader
	Writer client.Writer
	// Name of the MutatingWebhookConfiguration.
	Name string
	// Recheck is how often the caBundle is checked once set (default a minute).
	Recheck time.Duration

	set atomic.Bool
}

// NeedLeaderElection is false: every replica serves the webhook.
func (t *Trust) NeedLeaderElection() bool { return false }

// Checker is a readiness check (healthz.Checker): ready while the caBundle is the certificate.
func (t *Trust) Checker(*http.Request) error {
	if !t.set.Load() {
		return fmt.Errorf("the caBundle of MutatingWebhookConfiguration %s is not this replica's certificate", t.Name)
	}
	return nil
}

// Start keeps the caBundle set until ctx ends.
func (t *Trust) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithValues("mutatingWebhookConfiguration", t.Name)
	recheck := t.Recheck
	if recheck <= 0 {
		recheck = time.Minute
	}
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 30 * time.Second}
	for {
		err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
			changed, err := t.Cert.SetCABundle(ctx, t.Reader, t.Writer, t.Name)
			t.set.Store(err == nil)
			if err != nil {
				log.Error(err, "the API server cannot call the plan webhook: experiments are created unplanned")
				return false, nil
			}
			if changed {
				log.Info("plan webhook trusted")
			}
			return true, nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(recheck):
		}
	}
}
