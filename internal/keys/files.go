package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// encryptedKeyPEMType is cosign's PEM block type for an encrypted key.
const encryptedKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(pemBlock("CERTIFICATE", c.Raw))
	}
	return b.Bytes()
}

// parseCertsPEM parses a PEM file of one or more certificates and nothing
// else.
func parseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q among certificates", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data that is not PEM after the certificates")
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in PEM data")
	}
	return certs, nil
}

// typeOf names the type of a public key; types Notary Project signing does
// not support are an error.
func typeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		case elliptic.P521():
			return "ecdsa-p521", nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048, 3072, 4096:
			return KeyType(fmt.Sprintf("rsa-%d", bits)), nil
		default:
			return "", fmt.Errorf("unsupported RSA key size %d (2048, 3072 or 4096)", bits)
		}
	}
	return "", fmt.Errorf("unsupported key type %T (ECDSA or RSA)", pub)
}

// getPassphrase asks the store's passphrase source; an empty passphrase is
// an error.
func (s *Store) getPassphrase() ([]byte, error) {
	if s.passphrase == nil {
		return nil, errors.New("no passphrase source for the key store")
	}
	p, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty key passphrase")
	}
	return p, nil
}

// encryptKey returns key as cosign's encrypted PEM.
func encryptKey(key crypto.Signer, passphrase []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	enc, err := encrypted.Encrypt(der, passphrase)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pemBlock(encryptedKeyPEMType, enc), nil
}

// readKey loads and decrypts an encrypted key file, refusing one that
// other users can read.
func readKey(path string, passphrase []byte) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: other users can read it; refusing to use it (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != encryptedKeyPEMType {
		return nil, fmt.Errorf("key file %s: not an %s PEM block", path, encryptedKeyPEMType)
	}
	der, err := encrypted.Decrypt(blk.Bytes, passphrase)
	if err != nil {
		return nil, fmt.Errorf("decrypt key %s: wrong passphrase or damaged file", path)
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key file %s: decrypted data is not a PKCS#8 key", path)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key file %s: key type %T cannot sign", path, k)
	}
	return signer, nil
}

// writeFile writes data to path atomically (temporary file in the same
// directory, synced, then renamed) with mode 0600.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// generation is what one generation directory holds.
type generation struct {
	key   []byte // encrypted PEM
	chain []byte
	caKey []byte // encrypted PEM; nil for imported keys
}

// writeGeneration creates NAME/gen with its files, all or nothing: the
// files go to a temporary directory that is renamed into place. It fails if
// the generation already exists. A new key (gen 1) also gets its current
// file inside the same rename.
func (s *Store) writeGeneration(name string, gen int, g generation) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	parent, final := s.dir, s.keyDir(name)
	if gen > 1 {
		parent, final = s.keyDir(name), s.genDir(name, gen)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("key %q: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return fmt.Errorf("key %q: %w", name, err)
	}
	genDir := tmp
	if gen == 1 {
		genDir = filepath.Join(tmp, "1")
		if err := os.Mkdir(genDir, 0o700); err != nil {
			return fmt.Errorf("key %q: %w", name, err)
		}
		if err := writeFile(filepath.Join(tmp, currentFile), []byte("1\n")); err != nil {
			return err
		}
	}
	files := []struct {
		name string
		data []byte
	}{{keyFile, g.key}, {chainFile, g.chain}, {caKeyFile, g.caKey}}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := writeFile(filepath.Join(genDir, f.name), f.data); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(final); err == nil {
		if gen == 1 {
			return fmt.Errorf("key %q already exists in %s", name, s.dir)
		}
		return fmt.Errorf("key %q: generation %d already exists", name, gen)
	}
	// Renaming onto an existing non-empty directory fails, so a concurrent
	// writer cannot be overwritten.
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("key %q: %w", name, err)
	}
	ok = true
	if err := syncDir(parent); err != nil {
		return err
	}
	if gen > 1 {
		return writeFile(filepath.Join(s.keyDir(name), currentFile), []byte(fmt.Sprintf("%d\n", gen)))
	}
	return nil
}
