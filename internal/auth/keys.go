package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Token-signing keys live beside the database, not in it:
//
//	<keys>/token.key       the key new tokens are signed with (ECDSA P-256, PKCS#8 PEM, 0600)
//	<keys>/token.prev.key  the key before the last rotation, still accepted until its tokens expire
const (
	tokenKeyFile     = "token.key"
	prevTokenKeyFile = "token.prev.key"
)

// signingKey is a token-signing key and its id (the "kid" of tokens).
type signingKey struct {
	id  string
	key *ecdsa.PrivateKey
}

func keyID(k *ecdsa.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

func readKey(path string) (*signingKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("read key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read key %s: not an ECDSA key", path)
	}
	return &signingKey{id: keyID(ec), key: ec}, nil
}

// writeNewKey writes a fresh key to path atomically (temp file, fsync, rename).
func writeNewKey(path string) (*signingKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate token key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode token key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-key-*")
	if err != nil {
		return nil, fmt.Errorf("write token key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("write token key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("write token key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write token key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("install token key: %w", err)
	}
	return &signingKey{id: keyID(k), key: k}, nil
}

// keyring holds the current signing key and the previous one.
type keyring struct {
	current *signingKey
	prev    *signingKey
}

func loadKeyring(dir string) (*keyring, error) {
	cur, err := readKey(filepath.Join(dir, tokenKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("token-signing key %s is missing: restore it from backup, or run `cssc admin rotate-token-key --data-dir …` to make a new one (issued tokens become invalid)",
			filepath.Join(dir, tokenKeyFile))
	}
	if err != nil {
		return nil, err
	}
	kr := &keyring{current: cur}
	if prev, err := readKey(filepath.Join(dir, prevTokenKeyFile)); err == nil {
		kr.prev = prev
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return kr, nil
}

// rotateKeys makes a new current key; the old current becomes the previous
// one (tokens it signed stay valid until they expire).
func rotateKeys(dir string) (*keyring, error) {
	cur := filepath.Join(dir, tokenKeyFile)
	if _, err := os.Stat(cur); err == nil {
		if err := os.Rename(cur, filepath.Join(dir, prevTokenKeyFile)); err != nil {
			return nil, fmt.Errorf("rotate token key: %w", err)
		}
	}
	if _, err := writeNewKey(cur); err != nil {
		return nil, err
	}
	return loadKeyring(dir)
}

func (kr *keyring) byID(id string) *ecdsa.PublicKey {
	for _, k := range []*signingKey{kr.current, kr.prev} {
		if k != nil && k.id == id {
			return &k.key.PublicKey
		}
	}
	return nil
}
