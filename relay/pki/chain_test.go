package pki

import (
	"crypto/x509"
	"errors"
	"testing"
)

// TestIntermediateChain checks that a leaf issued by an intermediate
// verifies against the root when the server sends its chain, and not when
// it sends the leaf alone: the missing-intermediate misconfiguration.
func TestIntermediateChain(t *testing.T) {
	root, err := NewCA("root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("intermediate")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Valid("turn.example.com")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(l *Leaf) error {
		pool := x509.NewCertPool()
		for _, der := range l.Certificate.Certificate[1:] {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			pool.AddCert(c)
		}
		_, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "turn.example.com", Roots: root.Pool(), Intermediates: pool})
		return err
	}
	if err := verify(leaf); err != nil {
		t.Errorf("with its chain: %v", err)
	}
	only := leaf.LeafOnly()
	var unknown x509.UnknownAuthorityError
	if err := verify(only); !errors.As(err, &unknown) {
		t.Errorf("leaf alone: %v, want an unknown authority", err)
	}
	if len(only.Certificate.Certificate) != 1 || len(leaf.Certificate.Certificate) != 2 {
		t.Error("LeafOnly changed the original or kept the chain")
	}
}
