package notary

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// notation's file names under its configuration directory
// ($XDG_CONFIG_HOME/notation on Linux).
const (
	// policyOCIFile is the name newer notation releases give the trust
	// policy for OCI artifacts; policyFile is the name notation 1.3
	// (notation-go v1.3.2) reads, used when the former is absent.
	policyOCIFile = "trustpolicy.oci.json"
	policyFile    = dir.PathTrustPolicy
	trustStoreDir = dir.TrustStoreDir
)

// notationConfigDir is notation's configuration directory: "notation" in
// the user configuration directory (os.UserConfigDir, as notation-go's dir
// package uses).
func notationConfigDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find notation's configuration directory: %w", err)
	}
	return filepath.Join(d, "notation"), nil
}

// DefaultPolicyPath is the trust policy notation itself reads:
// trustpolicy.oci.json in its configuration directory, or trustpolicy.json
// when that does not exist. It is an error when neither exists.
func DefaultPolicyPath() (string, error) {
	cfg, err := notationConfigDir()
	if err != nil {
		return "", err
	}
	oci := filepath.Join(cfg, policyOCIFile)
	old := filepath.Join(cfg, policyFile)
	for _, p := range []string{oci, old} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("trust policy %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("no trust policy: neither %s nor %s exists (give one with --policy)", oci, old)
}

// DefaultTrustStoreDir is notation's trust store directory (holding
// x509/{ca,signingAuthority,tsa}/NAME/*.pem).
func DefaultTrustStoreDir() (string, error) {
	cfg, err := notationConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cfg, trustStoreDir), nil
}

// loadPolicy reads and validates a trust policy document.
func loadPolicy(p string) (*trustpolicy.Document, []byte, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, fmt.Errorf("read trust policy: %w", err)
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("trust policy %s is not valid JSON: %w", p, err)
	}
	if err := doc.Validate(); err != nil {
		return nil, nil, fmt.Errorf("trust policy %s: %w", p, err)
	}
	return &doc, raw, nil
}

// trustStoreRoot finds the directory holding x509/ in what the user gave:
// the trust store directory itself, or a notation configuration directory
// (holding truststore/x509/).
func trustStoreRoot(d string) (string, error) {
	info, err := os.Stat(d)
	if err != nil {
		return "", fmt.Errorf("trust store: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("trust store %s is not a directory", d)
	}
	for _, root := range []string{d, filepath.Join(d, trustStoreDir)} {
		if info, err := os.Stat(filepath.Join(root, "x509")); err == nil && info.IsDir() {
			return root, nil
		}
	}
	return "", fmt.Errorf("trust store %s has no x509 directory (want %s/x509/{ca,signingAuthority,tsa}/NAME/*.pem)", d, d)
}

// storeFS presents a trust store directory to notation-go's trust store,
// which asks for paths under {NOTATION_CONFIG}: truststore/x509/TYPE/NAME.
type storeFS struct {
	fs.FS
	root string
}

func newStoreFS(root string) storeFS { return storeFS{FS: os.DirFS(root), root: root} }

// SysPath maps truststore/… to the store's directory.
func (s storeFS) SysPath(items ...string) (string, error) {
	p := path.Join(items...)
	rel, ok := strings.CutPrefix(p, trustStoreDir+"/")
	if !ok {
		return "", fmt.Errorf("path %q is outside the trust store", p)
	}
	return filepath.Join(s.root, filepath.FromSlash(rel)), nil
}

// fingerprint hashes the policy document and every file of the trust
// store (its path and content), so that any change to either gives
// another fingerprint.
func fingerprint(policy []byte, storeRoot string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "cssc-notary-v1\npolicy %d\n", len(policy))
	h.Write(policy)
	x509Dir := filepath.Join(storeRoot, "x509")
	err := filepath.WalkDir(x509Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == x509Dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // no trust store: nothing to hash
			}
			return err
		}
		rel, err := filepath.Rel(storeRoot, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			// notation refuses symbolic links in a trust store; what they
			// point to does not count, only that they are there.
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "symlink %s -> %s\n", rel, target)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file %s %d\n", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read trust store %s: %w", storeRoot, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
