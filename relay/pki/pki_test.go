package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// processCA is trusted by the whole test binary through TrustForProcess.
var processCA *CA

func TestMain(m *testing.M) {
	ca, err := NewCA("icelab process CA")
	if err == nil {
		err = TrustForProcess(ca)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	processCA = ca
	os.Exit(m.Run())
}

func TestLeaves(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	const domain = "turn.example.com"
	now := time.Now()
	verify := func(l *Leaf, err error) error {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: domain, CurrentTime: now})
		return err
	}
	if err := verify(ca.Valid(domain)); err != nil {
		t.Errorf("valid: %v", err)
	}
	var he x509.HostnameError
	if err := verify(ca.WrongName(domain)); !errors.As(err, &he) {
		t.Errorf("wrong name: %v, want a HostnameError", err)
	}
	var ce x509.CertificateInvalidError
	if err := verify(ca.Expired(domain, now)); !errors.As(err, &ce) || ce.Reason != x509.Expired {
		t.Errorf("expired: %v, want Expired", err)
	}
	// A synctest bubble starts its clock at 2000-01-01 UTC: certificates made on
	// the real clock must hold there too.
	l, err := ca.Valid(domain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: domain,
		CurrentTime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Errorf("at the synctest epoch: %v", err)
	}
	ipLeaf, err := ca.Issue(LeafOptions{Names: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ipLeaf.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
}

// TestValidityFollowsTheClock checks that a CA and a leaf made now are valid
// from shortly before now to ValidFor after now, not on fixed dates, and
// inside a synctest bubble on the bubble's clock.
func TestValidityFollowsTheClock(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, now time.Time) {
		ca, err := NewCA("clock CA")
		if err != nil {
			t.Fatal(err)
		}
		l, err := ca.Valid("turn.example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*x509.Certificate{ca.Cert, l.Certificate.Leaf} {
			if c.NotBefore.After(now.Add(-validBefore)) {
				t.Errorf("%s: not before %v, want at least %v before %v", c.Subject, c.NotBefore, validBefore, now)
			}
			if c.NotAfter.Before(now.Add(ValidFor-time.Minute)) || c.NotAfter.After(now.Add(ValidFor+time.Minute)) {
				t.Errorf("%s: not after %v, want %v after %v", c.Subject, c.NotAfter, ValidFor, now)
			}
		}
		at := func(when time.Time) error {
			_, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "turn.example.com", CurrentTime: when})
			return err
		}
		if err := at(now); err != nil {
			t.Errorf("at %v: %v", now, err)
		}
		if err := at(now.Add(ValidFor + time.Hour)); err == nil {
			t.Errorf("still valid %v after it was made", ValidFor+time.Hour)
		}
	}
	t.Run("real clock", func(t *testing.T) { check(t, time.Now()) })
	t.Run("bubble clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { check(t, time.Now()) })
	})
}

func TestWriteFilesLoad(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ca.Valid("turn.example.com")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := l.WriteFiles(t.TempDir(), "turn")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("chain of %d certificates, want leaf and CA", len(pair.Certificate))
	}
}

// TestTrustForProcess shows that a tls.Config with nil RootCAs, as pion's ICE
// agent builds, trusts the process CA and nothing else, and that a second call
// reports that it is too late.
func TestTrustForProcess(t *testing.T) {
	l, err := processCA.Valid("turn.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "turn.example.com"}); err != nil {
		t.Errorf("system roots do not trust the process CA: %v", err)
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	ol, err := other.Valid("turn.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ol.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "turn.example.com"}); err == nil {
		t.Errorf("system roots trust a CA that was never installed")
	}
	if err := TrustForProcess(other); !errors.Is(err, ErrRootsAlreadyLoaded) {
		t.Errorf("second TrustForProcess: %v, want ErrRootsAlreadyLoaded", err)
	}
	if v, ok := os.LookupEnv("SSL_CERT_FILE"); ok && v != "" {
		// Only fails if the environment had no SSL_CERT_FILE to begin with; either
		// way it must not point at the removed temporary file.
		if _, err := os.Stat(v); err != nil {
			t.Errorf("SSL_CERT_FILE left pointing at %s", v)
		}
	}
}
