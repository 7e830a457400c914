package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// PublicKeyPath is where the public half of the key at keyPath is kept:
// the same name with the extension .pub (keys/audit.key: keys/audit.pub).
func PublicKeyPath(keyPath string) string {
	ext := filepath.Ext(keyPath)
	if ext == ".pub" {
		return keyPath + ".pub"
	}
	return strings.TrimSuffix(keyPath, ext) + ".pub"
}

// LoadOrCreateKey reads the Ed25519 private key (PKCS#8 PEM) at path. When
// there is none it creates one, mode 0600, and writes its public half
// (PKIX PEM) to PublicKeyPath(path). An existing public key file must
// match the private key.
func LoadOrCreateKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("audit key: no key file given")
	}
	key, err := readPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
		if err == nil && log != nil {
			log.Info("created the audit signing key; keep a copy of its public half for offline verification",
				"key", path, "public_key", PublicKeyPath(path))
		}
	}
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("the audit signing key is readable by others; chmod 600 it", "key", path, "mode", fi.Mode().Perm().String())
	}
	pub := key.Public().(ed25519.PublicKey)
	pubPath := PublicKeyPath(path)
	have, err := ReadPublicKey(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := writePublicKey(pubPath, pub); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !have.Equal(pub):
		return nil, fmt.Errorf("audit key: %s is not the public half of %s", pubPath, path)
	}
	return key, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit key %s: not a PEM \"PRIVATE KEY\" (PKCS#8)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s: a %T, not an Ed25519 key", path, k)
	}
	return key, nil
}

// createKey writes a new key to a temporary file and links it into place,
// so a crash never leaves half a key and two processes never both create
// one.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("audit key: generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("audit key: encode: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmp, err := writeTemp(path, data, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readPrivateKey(path) // created concurrently
		}
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return key, syncDir(filepath.Dir(path))
}

// MarshalPublicKey encodes pub as PKIX PEM ("PUBLIC KEY").
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey decodes an Ed25519 public key from PKIX PEM.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\"")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return pub, nil
}

// ReadPublicKey reads an Ed25519 public key (PKIX PEM) from path.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	pub, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("audit public key %s: %w", path, err)
	}
	return pub, nil
}

func writePublicKey(path string, pub ed25519.PublicKey) error {
	data, err := MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("audit public key: %w", err)
	}
	return nil
}

// writeTemp writes data to a new temporary file beside path, synced, and
// returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return "", err
	}
	return name, nil
}

// writeFileAtomic replaces path with data: a reader sees the old file or
// the new one, and after a crash one of them is there whole.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
