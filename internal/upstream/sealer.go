package upstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// KEKSize is the size of the key that encrypts upstream credentials.
const KEKSize = 32

const sealV1 = "v1:"

// Sealer encrypts upstream credentials at rest with AES-256-GCM. The
// upstream's name is authenticated with each secret, so a secret copied
// to another upstream's row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer using the 32-byte key kek.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("new sealer: key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for the upstream called name: "v1:" and the
// base64 of a random nonce followed by the ciphertext.
func (s *Sealer) Seal(name string, plaintext []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret of %s: %w", name, err)
	}
	out := s.aead.Seal(nonce, nonce, plaintext, []byte(name))
	return sealV1 + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for the upstream called name.
func (s *Sealer) Open(name, sealed string) ([]byte, error) {
	enc, ok := strings.CutPrefix(sealed, sealV1)
	if !ok {
		return nil, fmt.Errorf("open secret of %s: unknown format (want %q prefix)", name, sealV1)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("open secret of %s: %w", name, err)
	}
	ns := s.aead.NonceSize()
	if len(raw) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("open secret of %s: too short", name)
	}
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("open secret of %s: wrong key, secret altered or moved from another upstream: %w", name, err)
	}
	return plain, nil
}

// LoadKEK reads a key file: 32 random bytes written as hex or base64. It
// refuses a file that group or others may read.
func LoadKEK(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load key %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: group or others may access it (mode %04o): run chmod 600 %s", path, perm, path)
	}
	content, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	text := string(bytes.TrimSpace(content))
	if k, err := hex.DecodeString(text); err == nil && len(k) == KEKSize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == KEKSize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("load key %s: want %d bytes written as hex (64 digits) or base64", path, KEKSize)
}

// GenerateKEK writes a new random key to path (hex, mode 0600, its
// directory created 0700) and returns it. It never replaces a file.
func GenerateKEK(path string) ([]byte, error) {
	k := make([]byte, KEKSize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate key %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("generate key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("generate key %s: %w", path, err)
	}
	_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("generate key %s: %w", path, err)
	}
	return k, nil
}
