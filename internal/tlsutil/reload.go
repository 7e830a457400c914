package tlsutil

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// reloadInterval is how often, at most, the files are looked at.
const reloadInterval = time.Second

// reloader serves a certificate and swaps in a new one when its files
// change on disk. A pair that does not load (say, the certificate has been
// replaced but the key not yet) is retried on later checks; meanwhile the old
// certificate is served.
type reloader struct {
	certFile, keyFile string
	now               func() time.Time
	onReload          func(info string, err error)

	mu                sync.Mutex
	cert              *tls.Certificate
	certStat, keyStat os.FileInfo // of the files cert was loaded from
	checked           time.Time
	lastErr           string // last error reported to onReload
}

// load reads the pair, after looking at the files, so a change made while
// it reads is seen by the next check.
func (r *reloader) load() error {
	cs, ks, err := r.stat()
	if err != nil {
		return err
	}
	now := r.now()
	cert, err := loadKeyPair(r.certFile, r.keyFile, now)
	if err != nil {
		return err
	}
	r.cert, r.certStat, r.keyStat, r.checked = cert, cs, ks, now
	return nil
}

func (r *reloader) stat() (cert, key os.FileInfo, err error) {
	if cert, err = os.Stat(r.certFile); err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if key, err = os.Stat(r.keyFile); err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	return cert, key, nil
}

// getCertificate is tls.Config.GetCertificate.
func (r *reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if d := now.Sub(r.checked); d >= reloadInterval || d < 0 {
		r.checked = now
		r.check(now)
	}
	return r.cert, nil
}

// check reloads the pair if either file changed (another inode, size or
// modification time); r.mu is held.
func (r *reloader) check(now time.Time) {
	cs, ks, err := r.stat()
	if err != nil {
		r.fail(err)
		return
	}
	if !changed(r.certStat, cs) && !changed(r.keyStat, ks) {
		return
	}
	cert, err := loadKeyPair(r.certFile, r.keyFile, now)
	if err != nil {
		r.fail(err)
		return
	}
	r.cert, r.certStat, r.keyStat = cert, cs, ks
	info := "reloaded TLS certificate " + describe(r.certFile, cert)
	if w := expiryWarning(cert, now); w != "" {
		info += "; " + w
	}
	r.lastErr = ""
	if r.onReload != nil {
		r.onReload(info, nil)
	}
}

// fail passes an error to onReload once, not on every retry.
func (r *reloader) fail(err error) {
	if err.Error() == r.lastErr {
		return
	}
	r.lastErr = err.Error()
	if r.onReload != nil {
		r.onReload("", fmt.Errorf("keeping the current TLS certificate: %w", err))
	}
}

func changed(old, cur os.FileInfo) bool {
	return !os.SameFile(old, cur) || old.Size() != cur.Size() || !old.ModTime().Equal(cur.ModTime())
}
