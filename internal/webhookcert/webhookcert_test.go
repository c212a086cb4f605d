package webhookcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that trusts the caBundle (Cert.PEM) and nothing else completes a TLS handshake with a
// server serving the certificate, for each of its names, and for no other name.
func TestCertIsTrustedThroughItsOwnBundle(t *testing.T) {
	c, err := New([]string{"firedrill-webhook.firedrill-system.svc", "127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	c.Serve(srvCfg)
	l, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.PEM) {
		t.Fatal("PEM holds no certificate")
	}
	for _, tc := range []struct {
		serverName string
		wantErr    string
	}{
		{"firedrill-webhook.firedrill-system.svc", ""},
		{"127.0.0.1", ""},
		{"other.firedrill-system.svc", "certificate is valid for"},
	} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: tc.serverName})
		if err == nil {
			conn.Close()
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.serverName, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v, want an error with %q", tc.serverName, err, tc.wantErr)
		}
	}
}

// Past its validity the certificate is refused: it is what a restart renews.
func TestCertExpires(t *testing.T) {
	issued := time.Now().Add(-48 * time.Hour)
	c, err := New([]string{"svc"}, issued, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(c.tls.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "svc", CurrentTime: issued.Add(time.Hour)}); err != nil {
		t.Errorf("within its validity: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "svc"}); err == nil {
		t.Error("a day past its validity it still verifies")
	}
}
