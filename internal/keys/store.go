// Package keys is the local signing-key store: private keys encrypted at
// rest (cosign's encrypted PEM format, so cosign can use them too), each
// with its certificate chain, in generations so that a rotated key's
// certificates stay available for verification.
//
// Layout under the store's directory (0700; files 0600):
//
//	NAME/current          the generation that signs ("2")
//	NAME/N/key.pem        the signing key, ENCRYPTED SIGSTORE PRIVATE KEY
//	NAME/N/chain.pem      the leaf certificate, then its CA certificate(s)
//	NAME/N/ca-key.pem     generated keys only: the CA's key, encrypted
package keys

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// KeyType is the algorithm and size of a key.
type KeyType string

// The key types Generate makes.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA3072   KeyType = "rsa-3072"
)

// Origin says where a key came from.
type Origin string

// The origins of a key.
const (
	Generated Origin = "generated"
	Imported  Origin = "imported"
)

// What Export writes.
type ExportKind string

// The things Export can write.
const (
	// ExportCert is the CA (last) certificate of the chain alone: the trust
	// anchor for a Notary Project trust store.
	ExportCert ExportKind = "cert"
	// ExportChain is the whole chain, leaf first.
	ExportChain ExportKind = "chain"
	// ExportPublic is the leaf's public key as PKIX PEM ("PUBLIC KEY"), what
	// cosign verify --key takes.
	ExportPublic ExportKind = "public"
)

// File names inside a generation directory.
const (
	keyFile     = "key.pem"
	chainFile   = "chain.pem"
	caKeyFile   = "ca-key.pem"
	currentFile = "current"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ErrNotFound is returned (wrapped) for a key name the store does not hold.
var ErrNotFound = errors.New("no such key")

// Store is a directory of signing keys.
type Store struct {
	dir        string
	passphrase func() ([]byte, error)
	now        func() time.Time
}

// NewStore returns the store rooted at dir. passphrase is asked for the
// passphrase each time a key is encrypted or decrypted; it must return a
// non-empty passphrase or an error (see PassphraseFromEnv).
func NewStore(dir string, passphrase func() ([]byte, error)) *Store {
	return &Store{dir: dir, passphrase: passphrase, now: time.Now}
}

// Dir is the directory the store is rooted at.
func (s *Store) Dir() string { return s.dir }

// DefaultDir is $XDG_CONFIG_HOME/cssc/keys, else ~/.config/cssc/keys.
func DefaultDir(lookup func(string) (string, bool)) (string, error) {
	if v, ok := lookup("XDG_CONFIG_HOME"); ok && v != "" {
		return filepath.Join(v, "cssc", "keys"), nil
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("key directory: %w (give --key-dir)", err)
		}
		home = h
	}
	return filepath.Join(home, ".config", "cssc", "keys"), nil
}

// Info describes a key in the store.
type Info struct {
	Name             string    `json:"name"`
	Type             KeyType   `json:"type"`
	Generation       int       `json:"generation"`
	Subject          string    `json:"subject"`
	NotBefore        time.Time `json:"not_before"`
	NotAfter         time.Time `json:"not_after"`
	Fingerprint      string    `json:"fingerprint"` // SHA-256 of the leaf certificate (DER), hex
	Origin           Origin    `json:"origin"`
	OlderGenerations []int     `json:"older_generations"`
}

// ValidName reports whether name may name a key, with an error that says
// why not.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid key name %q: use 1-63 of a-z 0-9 . _ - starting with a letter or digit", name)
	}
	return nil
}

func (s *Store) keyDir(name string) string { return filepath.Join(s.dir, name) }

func (s *Store) genDir(name string, gen int) string {
	return filepath.Join(s.dir, name, strconv.Itoa(gen))
}

// current returns the generation NAME/current names.
func (s *Store) current(name string) (int, error) {
	if err := ValidName(name); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(s.keyDir(name), currentFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(s.keyDir(name)); errors.Is(serr, os.ErrNotExist) {
			return 0, fmt.Errorf("key %q in %s: %w", name, s.dir, ErrNotFound)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("key %q: read current generation: %w", name, err)
	}
	gen, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || gen < 1 {
		return 0, fmt.Errorf("key %q: %s does not name a generation", name, filepath.Join(s.keyDir(name), currentFile))
	}
	return gen, nil
}

// generations lists the generation directories of name, ascending.
func (s *Store) generations(name string) ([]int, error) {
	ents, err := os.ReadDir(s.keyDir(name))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	var gens []int
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= 1 && strconv.Itoa(n) == e.Name() {
			gens = append(gens, n)
		}
	}
	sort.Ints(gens)
	return gens, nil
}

// chain reads the certificate chain of a generation.
func (s *Store) chain(name string, gen int) ([]*x509.Certificate, error) {
	path := filepath.Join(s.genDir(name, gen), chainFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	certs, err := parseCertsPEM(b)
	if err != nil {
		return nil, fmt.Errorf("key %q: %s: %w", name, path, err)
	}
	return certs, nil
}

// List describes every key in the store, sorted by name. A missing store
// directory is an empty store.
func (s *Store) List() ([]Info, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return []Info{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	infos := []Info{}
	for _, e := range ents {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue // temporary directories and foreign files
		}
		info, err := s.Describe(e.Name())
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Describe returns the Info of one key.
func (s *Store) Describe(name string) (Info, error) {
	gen, err := s.current(name)
	if err != nil {
		return Info{}, err
	}
	certs, err := s.chain(name, gen)
	if err != nil {
		return Info{}, err
	}
	leaf := certs[0]
	typ, err := typeOf(leaf.PublicKey)
	if err != nil {
		return Info{}, fmt.Errorf("key %q: %w", name, err)
	}
	gens, err := s.generations(name)
	if err != nil {
		return Info{}, err
	}
	older := []int{}
	for _, g := range gens {
		if g != gen {
			older = append(older, g)
		}
	}
	origin := Imported
	if _, err := os.Stat(filepath.Join(s.genDir(name, gen), caKeyFile)); err == nil {
		origin = Generated
	}
	sum := sha256.Sum256(leaf.Raw)
	return Info{
		Name:             name,
		Type:             typ,
		Generation:       gen,
		Subject:          leaf.Subject.String(),
		NotBefore:        leaf.NotBefore.UTC(),
		NotAfter:         leaf.NotAfter.UTC(),
		Fingerprint:      hex.EncodeToString(sum[:]),
		Origin:           origin,
		OlderGenerations: older,
	}, nil
}

// Export returns the current generation's CA certificate, chain or public
// key as PEM. It never returns private key material.
func (s *Store) Export(name string, what ExportKind) ([]byte, error) {
	gen, err := s.current(name)
	if err != nil {
		return nil, err
	}
	certs, err := s.chain(name, gen)
	if err != nil {
		return nil, err
	}
	switch what {
	case ExportCert:
		return encodeCerts(certs[len(certs)-1:]), nil
	case ExportChain:
		return encodeCerts(certs), nil
	case ExportPublic:
		der, err := x509.MarshalPKIXPublicKey(certs[0].PublicKey)
		if err != nil {
			return nil, fmt.Errorf("export %s public key: %w", name, err)
		}
		return pemBlock("PUBLIC KEY", der), nil
	default:
		return nil, fmt.Errorf("export %s: unknown kind %q (cert, chain or public)", name, what)
	}
}
