package audit

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// certKind is what is wrong with a certificate, if anything.
type certKind int

const (
	certValid certKind = iota
	certExpired
	certWrongName
	certIncomplete
)

// checkCertificate checks a cert_file's chain (DER, leaf first) the way a
// TURN/TLS client will: in its validity window at now, covering domain,
// and carrying the intermediates a client needs to reach a root. It cannot
// know which roots clients trust, so "incomplete" means what a reviewer
// would flag: the file holds a leaf (or a chain) whose last certificate is
// not self-signed and was not issued by anything in the file, with nothing
// above the leaf — the intermediate is missing (RFC 8446 §4.4.2: the
// sender's chain must let the peer build a path; browsers do not fetch
// missing intermediates for TURN).
func checkCertificate(chain [][]byte, domain string, now time.Time) (string, certKind) {
	if len(chain) == 0 {
		return "the file holds no certificate", certIncomplete
	}
	certs := make([]*x509.Certificate, 0, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Sprintf("certificate %d of the file does not parse: %v", i+1, err), certIncomplete
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly)), certExpired
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.DateOnly)), certExpired
	}
	if err := leaf.VerifyHostname(domain); err != nil {
		return fmt.Sprintf("the certificate does not cover turn.domain %q (it names %s)", domain, names(leaf)), certWrongName
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return fmt.Sprintf("certificate %d of the file was not issued by certificate %d (%v): the chain is out of order or has a gap", i+1, i+2, err), certIncomplete
		}
	}
	if len(certs) == 1 && !selfSigned(leaf) {
		return fmt.Sprintf("the file holds only the leaf: the intermediate that issued it (%s) is missing", leaf.Issuer), certIncomplete
	}
	return "", certValid
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func names(c *x509.Certificate) string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		return "CN=" + c.Subject.CommonName
	}
	return fmt.Sprint(out)
}
