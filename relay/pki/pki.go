// Package pki makes throw-away certificate authorities and leaf certificates for
// testing TURN over TLS: a valid certificate for a domain, one for the wrong name,
// and an expired one. Everything is ECDSA P-256 made with crypto/x509 in memory;
// WriteFiles puts a leaf where a relay's cert_file/key_file can point.
//
// # Trusting a test CA in pion clients
//
// pion's ICE agent dials TURN/TLS with tls.Config{ServerName, InsecureSkipVerify}
// and nil RootCAs (ice/v4@v4.4.9 gather.go:1203), so verification uses the process's
// system roots; webrtc v4.2.26 has no setting for the roots of that TLS client
// (SetDTLSRootCAs is DTLS's) and does not even expose ICE's InsecureSkipVerify, which
// would in any case disable the checks a test wants to observe. crypto/x509 loads the system roots once per
// process, behind a sync.Once, from SSL_CERT_FILE/SSL_CERT_DIR when set. The ways
// to make a pion client trust a test CA are therefore all process-wide:
//
//   - TrustForProcess (this package): set SSL_CERT_FILE to the CA and SSL_CERT_DIR
//     to an empty directory, force the one-time load with x509.SystemCertPool,
//     then restore both variables so child processes are unaffected. The
//     process then trusts exactly the test CA and no real root, which keeps TLS
//     outcomes hermetic. It must run before anything loads the system roots (call
//     it first thing in TestMain); it verifies the result and returns
//     ErrRootsAlreadyLoaded if it ran too late.
//   - x509.SetFallbackRoots plus a //go:debug x509usefallbackroots=1 line in the
//     test package: works even after the roots were loaded, but panics when called
//     twice and needs the directive in every test package; not used here.
//
// Code that builds its own tls.Config (the relay's tests, a TURN client made
// with turn.NewClient over tls.Client) should use CA.Pool instead and touch no
// process state.
//
// A CA and its leaves are valid from shortly before the time they are made
// until ValidFor after it, never on fixed dates. The window also reaches back
// to 1999-12-31, just before the fake epoch of a testing/synctest bubble
// (2000-01-01 UTC), so one CA made in TestMain on the real clock verifies
// inside bubbles too; inside a bubble time.Now is the bubble's clock. An
// expired leaf is expired relative to the now given to Expired: make it
// inside the bubble to have it expired on the bubble's clock.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// bubbleEpochMargin is a day before a testing/synctest bubble's clock starts.
var bubbleEpochMargin = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)

// ValidFor is how long after it is made a CA or leaf stays valid.
const ValidFor = 30 * 24 * time.Hour

// validBefore is how long before it is made a CA or leaf is already valid,
// for clocks slightly behind the maker's.
const validBefore = time.Hour

// window returns the default validity window for a certificate made at now.
func window(now time.Time) (notBefore, notAfter time.Time) {
	notBefore = now.Add(-validBefore)
	if notBefore.After(bubbleEpochMargin) {
		notBefore = bubbleEpochMargin
	}
	return notBefore.UTC(), now.Add(ValidFor).UTC()
}

// CA is a self-signed certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert in PEM form.
	PEM []byte
}

// NewCA makes a CA whose common name is name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: key: %w", name, err)
	}
	notBefore, notAfter := window(time.Now())
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"icelab test CA"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1, // room for one intermediate (Intermediate)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: sign: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: parse: %w", name, err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Intermediate makes a CA whose certificate ca signs, as public PKIs issue
// server certificates from intermediates: a leaf it issues chains to ca
// only through it, so a server must send it along.
func (ca *CA) Intermediate(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate %s: key: %w", name, err)
	}
	notBefore, notAfter := window(time.Now())
	notBefore, notAfter = later(notBefore, ca.Cert.NotBefore), earlier(notAfter, ca.Cert.NotAfter)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"icelab test CA"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate %s: sign: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate %s: parse: %w", name, err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// LeafOnly returns the leaf without the certificates that chain it to its
// root: what a server misconfigured with the leaf alone sends, which
// clients that verify properly cannot chain when its issuer is an
// intermediate they do not hold.
func (l *Leaf) LeafOnly() *Leaf {
	only := *l
	only.Certificate.Certificate = l.Certificate.Certificate[:1]
	only.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.Certificate.Certificate[0]})
	return &only
}

// Pool returns a pool holding only this CA, for tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describes a leaf certificate.
type LeafOptions struct {
	// Names are DNS names; entries that parse as IP addresses become IP SANs.
	Names []string
	// NotBefore and NotAfter default to a window around the time of issue
	// (see the package doc), kept within the CA's.
	NotBefore, NotAfter time.Time
}

// Leaf is a certificate issued by a CA, with its key.
type Leaf struct {
	// Certificate is ready for tls.Config.Certificates (chain: leaf, CA).
	Certificate tls.Certificate
	// CertPEM holds the leaf then the CA; KeyPEM the PKCS #8 private key.
	CertPEM, KeyPEM []byte
}

// Issue signs a leaf certificate for server authentication.
func (ca *CA) Issue(o LeafOptions) (*Leaf, error) {
	if len(o.Names) == 0 {
		return nil, errors.New("pki: leaf: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: leaf %s: key: %w", o.Names[0], err)
	}
	notBefore, notAfter := window(time.Now())
	if o.NotBefore.IsZero() {
		o.NotBefore = notBefore
		if o.NotBefore.Before(ca.Cert.NotBefore) {
			o.NotBefore = ca.Cert.NotBefore
		}
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = notAfter
		if o.NotAfter.After(ca.Cert.NotAfter) {
			o.NotAfter = ca.Cert.NotAfter
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.Names[0]},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range o.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: leaf %s: sign: %w", o.Names[0], err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: leaf %s: parse: %w", o.Names[0], err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: leaf %s: marshal key: %w", o.Names[0], err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certPEM = append(certPEM, ca.PEM...)
	return &Leaf{
		Certificate: tls.Certificate{
			Certificate: [][]byte{der, ca.Cert.Raw},
			PrivateKey:  key,
			Leaf:        leaf,
		},
		CertPEM: certPEM,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Valid issues a certificate for domain (and, when domain is a name, nothing else).
func (ca *CA) Valid(domain string) (*Leaf, error) {
	return ca.Issue(LeafOptions{Names: []string{domain}})
}

// WrongName issues an otherwise valid certificate that does not cover domain.
func (ca *CA) WrongName(domain string) (*Leaf, error) {
	return ca.Issue(LeafOptions{Names: []string{"not-" + domain + ".invalid"}})
}

// Expired issues a certificate for domain that expired a day before now.
func (ca *CA) Expired(domain string, now time.Time) (*Leaf, error) {
	return ca.Issue(LeafOptions{
		Names:     []string{domain},
		NotBefore: now.Add(-30 * 24 * time.Hour),
		NotAfter:  now.Add(-24 * time.Hour),
	})
}

// WriteFiles writes the leaf to dir/name.crt and dir/name.key (mode 0600) and
// returns the two paths.
func (l *Leaf) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, l.CertPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("pki: write %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, l.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("pki: write %s: %w", keyFile, err)
	}
	return certFile, keyFile, nil
}

// WriteFile writes the CA certificate in PEM form to path.
func (ca *CA) WriteFile(path string) error {
	if err := os.WriteFile(path, ca.PEM, 0o600); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// ErrRootsAlreadyLoaded reports that the process loaded its system roots before
// TrustForProcess ran, so the test CA could not be installed.
var ErrRootsAlreadyLoaded = errors.New("pki: system roots were loaded before TrustForProcess; call it first thing in TestMain")

// TrustForProcess makes ca the only root the whole process trusts when a
// tls.Config has nil RootCAs, as pion's TURN/TLS client does. See the package
// documentation for why this is process-wide. Call it once, from TestMain, before
// anything verifies a certificate:
//
//	func TestMain(m *testing.M) {
//		ca, err := pki.NewCA("icelab test CA")
//		if err == nil {
//			err = pki.TrustForProcess(ca)
//		}
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(2)
//		}
//		os.Exit(m.Run())
//	}
//
// The environment is restored and the temporary file removed before it returns.
// It is not safe to call concurrently with code that reads the environment.
func TrustForProcess(ca *CA) (err error) {
	dir, err := os.MkdirTemp("", "icelab-roots-")
	if err != nil {
		return fmt.Errorf("pki: trust: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(file); err != nil {
		return err
	}
	emptyDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		return fmt.Errorf("pki: trust: %w", err)
	}
	for _, kv := range [][2]string{{"SSL_CERT_FILE", file}, {"SSL_CERT_DIR", emptyDir}} {
		old, had := os.LookupEnv(kv[0])
		if err := os.Setenv(kv[0], kv[1]); err != nil {
			return fmt.Errorf("pki: trust: %w", err)
		}
		defer func() {
			var rerr error
			if had {
				rerr = os.Setenv(kv[0], old)
			} else {
				rerr = os.Unsetenv(kv[0])
			}
			if rerr != nil && err == nil {
				err = fmt.Errorf("pki: trust: restore %s: %w", kv[0], rerr)
			}
		}()
	}
	if _, err := x509.SystemCertPool(); err != nil { // runs the one-time load now
		return fmt.Errorf("pki: trust: load roots: %w", err)
	}
	// Check that the load that counted was ours.
	probe, err := ca.Valid("trust-probe.invalid")
	if err != nil {
		return err
	}
	if _, err := probe.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "trust-probe.invalid"}); err != nil {
		return fmt.Errorf("%w (%v)", ErrRootsAlreadyLoaded, err)
	}
	return nil
}

func serial() *big.Int {
	// crypto/rand.Read never returns an error since Go 1.24 (it aborts the program).
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return new(big.Int).SetBytes(b)
}
