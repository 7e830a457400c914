package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Environment variables PassphraseFromEnv reads.
const (
	EnvPassphrase     = "CSSC_KEY_PASSPHRASE"
	EnvPassphraseFile = "CSSC_KEY_PASSPHRASE_FILE"
)

// PassphraseFromEnv returns a passphrase source reading CSSC_KEY_PASSPHRASE,
// or else the file CSSC_KEY_PASSPHRASE_FILE names (one trailing newline
// trimmed; the file must not be readable by group or others). Neither set,
// both set, or an empty passphrase is an error: a key is never stored
// unencrypted.
func PassphraseFromEnv(lookup func(string) (string, bool)) func() ([]byte, error) {
	return func() ([]byte, error) {
		v, hasVal := lookup(EnvPassphrase)
		file, hasFile := lookup(EnvPassphraseFile)
		switch {
		case hasVal && hasFile:
			return nil, fmt.Errorf("both %s and %s are set; set one", EnvPassphrase, EnvPassphraseFile)
		case hasVal:
			if v == "" {
				return nil, fmt.Errorf("%s is empty", EnvPassphrase)
			}
			return []byte(v), nil
		case hasFile:
			return readPassphraseFile(file)
		}
		return nil, fmt.Errorf("no key passphrase: set %s or %s", EnvPassphrase, EnvPassphraseFile)
	}
}

func readPassphraseFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%s is empty", EnvPassphraseFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("passphrase file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("passphrase file %s has mode %04o: other users can read it; refusing to use it (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read passphrase file %s: %w", path, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, errors.New("passphrase file " + path + " is empty")
	}
	return b, nil
}
