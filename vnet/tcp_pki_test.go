package vnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// testPKI is a certificate authority made for one test binary.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// testCA is the test binary's CA, made by TestMain before any test runs and
// trusted as a system root (see installTestCA).
var testCA *testPKI

// certValidity spans both clocks a test may run on: a testing/synctest
// bubble starts at 2000-01-01, real tests run today.
func certValidity() (notBefore, notAfter time.Time) {
	return time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(7 * 24 * time.Hour)
}

// newTestPKI makes an ECDSA P-256 CA.
func newTestPKI() (*testPKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("test ca: %w", err)
	}
	nb, na := certValidity()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "icelab vnet test CA"},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("test ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("test ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool}, nil
}

// pem returns the CA certificate in PEM.
func (p *testPKI) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
}

// leaf issues a server certificate for names.
func (p *testPKI) leaf(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("leaf %v: %w", names, err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("leaf %v: %w", names, err)
	}
	nb, na := certValidity()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("leaf %v: %w", names, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, p.cert.Raw}, PrivateKey: key}, nil
}

// installTestCA makes the test CA and makes it a system root.
//
// pion's ICE agent dials turns: servers with a tls.Config whose RootCAs is
// nil (ice/v4 gather.go), so it verifies against the system pool, which
// crypto/x509 loads once per process, on first use, from SSL_CERT_FILE
// among other places. TestMain therefore calls this before any test runs.
// It returns a function that removes the file.
func installTestCA() (cleanup func(), err error) {
	ca, err := newTestPKI()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vnet-test-ca-")
	if err != nil {
		return nil, fmt.Errorf("test ca: %w", err)
	}
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, ca.pem(), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("test ca: %w", err)
	}
	if err := os.Setenv("SSL_CERT_FILE", file); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("test ca: %w", err)
	}
	testCA = ca
	return func() { _ = os.RemoveAll(dir) }, nil
}
