package upstream

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KEKSize) }

func TestSealerRoundTrip(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"username":"u","password":"p"}`)
	a, err := s.Seal("dockerhub", secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal("dockerhub", secret)
	if a == b {
		t.Fatal("two seals of the same secret are equal: nonce not random")
	}
	if !strings.HasPrefix(a, "v1:") || strings.Contains(a, "password") {
		t.Fatalf("sealed = %q", a)
	}
	got, err := s.Open("dockerhub", a)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestSealerRefuses(t *testing.T) {
	s, _ := NewSealer(testKey(1))
	other, _ := NewSealer(testKey(2))
	sealed, err := s.Seal("dockerhub", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	raw[len(raw)-1] ^= 1
	tampered := "v1:" + base64.StdEncoding.EncodeToString(raw)
	tests := []struct {
		name   string
		sealer *Sealer
		row    string
		sealed string
	}{
		{"tampered", s, "dockerhub", tampered},
		{"moved to another upstream", s, "ghcr", sealed},
		{"wrong key", other, "dockerhub", sealed},
		{"unknown version", s, "dockerhub", "v2:" + strings.TrimPrefix(sealed, "v1:")},
		{"not base64", s, "dockerhub", "v1:!!!"},
		{"too short", s, "dockerhub", "v1:AAAA"},
		{"empty", s, "dockerhub", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.sealer.Open(tt.row, tt.sealed); err == nil {
				t.Fatalf("Open = %q, want an error", got)
			} else if !strings.Contains(err.Error(), tt.row) {
				t.Fatalf("error %q does not name the upstream", err)
			}
		})
	}
}

func TestNewSealerKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
	}
}

func TestLoadKEK(t *testing.T) {
	key := testKey(7)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"hex", hex.EncodeToString(key) + "\n", 0o600, ""},
		{"base64", base64.StdEncoding.EncodeToString(key), 0o400, ""},
		{"group readable", hex.EncodeToString(key), 0o640, "chmod 600"},
		{"world readable", hex.EncodeToString(key), 0o604, "group or others"},
		{"short", hex.EncodeToString(key[:16]), 0o600, "want 32 bytes"},
		{"garbage", "not a key", 0o600, "want 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "upstream.kek")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKEK(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadKEK = %x, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("LoadKEK = %x, %v", got, err)
			}
		})
	}
	if _, err := LoadKEK(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("LoadKEK of a missing file succeeded")
	}
}

func TestGenerateKEK(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "upstream.kek")
	k, err := GenerateKEK(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if di, err := os.Stat(filepath.Dir(p)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode = %v, %v; want 0700", di.Mode(), err)
	}
	loaded, err := LoadKEK(p)
	if err != nil || !bytes.Equal(loaded, k) || len(k) != KEKSize {
		t.Fatalf("LoadKEK = %x, %v; generated %x", loaded, err, k)
	}
	if _, err := GenerateKEK(p); err == nil {
		t.Fatal("GenerateKEK replaced an existing key")
	}
	if again, _ := LoadKEK(p); !bytes.Equal(again, k) {
		t.Fatal("the key changed")
	}
}
