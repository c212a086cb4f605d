// Package cachetest runs real redis-server and memcached processes (Debian's packages) on free
// loopback ports for tests. A missing binary fails the test: it never skips.
package cachetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/test/proctest"
)

// Server is one running cache server.
type Server struct {
	// Addr is host:port.
	Addr string
	// CACert is the PEM CA that signed a TLS server's certificate.
	CACert []byte
	*proctest.Process
}

// RedisOption configures a Redis server.
type RedisOption func(*redisConfig)

type redisConfig struct {
	host      string
	password  string
	users     []string
	tls       bool
	replicaOf string
	cluster   bool
}

// WithPassword sets requirepass (the default user's password).
func WithPassword(pw string) RedisOption { return func(c *redisConfig) { c.password = pw } }

// WithACLUser adds an ACL user with a password and ACL rules, e.g. "~*", "+@all".
func WithACLUser(name, password string, rules ...string) RedisOption {
	return func(c *redisConfig) {
		u := "user " + name + " on >" + password
		for _, r := range rules {
			u += " " + r
		}
		c.users = append(c.users, u)
	}
}

// WithHost listens on host instead of 127.0.0.1 (the local cluster's node IP, for pods).
func WithHost(host string) RedisOption { return func(c *redisConfig) { c.host = host } }

// WithTLS serves TLS only, with a certificate for 127.0.0.1 signed by Server.CACert.
func WithTLS() RedisOption { return func(c *redisConfig) { c.tls = true } }

// WithReplicaOf makes the server a replica of addr.
func WithReplicaOf(addr string) RedisOption { return func(c *redisConfig) { c.replicaOf = addr } }

// WithCluster runs the server in cluster mode (a single node; no slots are assigned).
func WithCluster() RedisOption { return func(c *redisConfig) { c.cluster = true } }

// StartRedis runs redis-server without persistence on a free loopback port.
func StartRedis(t testing.TB, opts ...RedisOption) *Server {
	t.Helper()
	var c redisConfig
	for _, o := range opts {
		o(&c)
	}
	bin := proctest.Binary(t, "redis-server", "redis-server")
	dir := t.TempDir()
	host := c.host
	if host == "" {
		host = "127.0.0.1"
	}
	s := &Server{Addr: proctest.FreeAddr(t, host)}
	_, port, _ := net.SplitHostPort(s.Addr)
	conf := fmt.Sprintf("bind %s\nprotected-mode no\nsave \"\"\nappendonly no\ndir %s\nlogfile \"\"\n", host, dir)
	if c.tls {
		s.CACert = writeCerts(t, dir)
		conf += fmt.Sprintf("port 0\ntls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n",
			port, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt"))
	} else {
		conf += fmt.Sprintf("port %s\n", port)
	}
	if c.password != "" {
		conf += "requirepass " + c.password + "\n"
	}
	for _, u := range c.users {
		conf += u + "\n"
	}
	if c.replicaOf != "" {
		host, p, _ := net.SplitHostPort(c.replicaOf)
		conf += fmt.Sprintf("replicaof %s %s\n", host, p)
		if c.password != "" {
			conf += "masterauth " + c.password + "\n"
		}
	}
	if c.cluster {
		conf += "cluster-enabled yes\ncluster-config-file " + filepath.Join(dir, "nodes.conf") + "\n"
	}
	path := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Process = proctest.Start(t, exec.Command(bin, path), "redis-server", 10*time.Second, proctest.Listening(s.Addr))
	return s
}

// MemcachedOption configures a Memcached server.
type MemcachedOption func(*[]string, string)

// WithMemcachedAuth turns on ASCII authentication (-Y) with one user.
func WithMemcachedAuth(user, password string) MemcachedOption {
	return func(args *[]string, dir string) {
		f := filepath.Join(dir, "auth")
		if err := os.WriteFile(f, []byte(user+":"+password+"\n"), 0o600); err != nil {
			panic(err)
		}
		*args = append(*args, "-Y", f)
	}
}

// WithMemcachedFlushDisabled refuses flush_all (-F), as some operators run it.
func WithMemcachedFlushDisabled() MemcachedOption {
	return func(args *[]string, _ string) { *args = append(*args, "-F") }
}

// StartMemcached runs memcached (64 MiB) on a free loopback port.
func StartMemcached(t testing.TB, opts ...MemcachedOption) *Server {
	t.Helper()
	bin := proctest.Binary(t, "memcached", "memcached")
	s := &Server{Addr: proctest.FreeAddr(t, "127.0.0.1")}
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64", "-u", "root"}
	dir := t.TempDir()
	for _, o := range opts {
		o(&args, dir)
	}
	s.Process = proctest.Start(t, exec.Command(bin, args...), "memcached", 10*time.Second, proctest.Listening(s.Addr))
	return s
}

// FreeAddr is a loopback address nothing listens on (for "unreachable" tests).
func FreeAddr(t testing.TB) string { return proctest.FreeAddr(t, "127.0.0.1") }

// writeCerts writes ca.crt, server.crt and server.key (for 127.0.0.1) into dir and returns the
// CA's PEM.
func writeCerts(t testing.TB, dir string) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cachetest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, data := range map[string][]byte{
		"ca.crt":     caPEM,
		"server.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caPEM
}
