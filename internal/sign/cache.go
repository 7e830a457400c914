package sign

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// cacheEntry is a cached passing report and how long it may be used.
type cacheEntry struct {
	Until  time.Time `json:"until"`
	Report Report    `json:"report"`
}

// FileCache keeps verdicts as one small JSON file per key under Dir, so
// that successive `cssc verify` runs share them. Entries are written
// atomically (a temporary file renamed into place) and readable by the
// owner only. An entry is used only if it and its directories belong to
// the current user and nobody else can write them: in a shared directory
// another user could otherwise plant a passing verdict.
type FileCache struct {
	Dir string
}

func (c FileCache) path(key string) string {
	return filepath.Join(c.Dir, key[:2], key+".json")
}

// Get returns the report stored under key if it is still valid at now. A
// missing, expired or unreadable entry is a miss: the image is verified
// again.
func (c FileCache) Get(key string, now time.Time) (*Report, bool) {
	if len(key) < 3 {
		return nil, false
	}
	p := c.path(key)
	if !ownedPrivate(c.Dir, true) || !ownedPrivate(filepath.Dir(p), true) || !ownedPrivate(p, false) {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || !now.Before(e.Until) || !e.Report.Passed {
		return nil, false
	}
	return &e.Report, true
}

// Put stores r under key until the given time.
func (c FileCache) Put(key string, r *Report, until time.Time) error {
	if len(key) < 3 {
		return fmt.Errorf("cache verdict: key %q too short", key)
	}
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("cache verdict: %w", err)
	}
	b, err := json.Marshal(cacheEntry{Until: until, Report: *r})
	if err != nil {
		return fmt.Errorf("cache verdict: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("cache verdict: %w", err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("cache verdict: write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("cache verdict: %w", err)
	}
	return nil
}

// Clear removes every cached verdict.
func (c FileCache) Clear() error {
	if err := os.RemoveAll(c.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear verification cache %s: %w", c.Dir, err)
	}
	return nil
}

// MemoryCache keeps verdicts in memory, for a long-running process (the
// server, an admission webhook). It holds at most Max entries (default
// 10,000); when full, expired entries are dropped first, then the entry
// that expires soonest.
type MemoryCache struct {
	Max int

	mu      sync.Mutex
	entries map[string]cacheEntry
}

// Get returns the report stored under key if it is still valid at now.
func (c *MemoryCache) Get(key string, now time.Time) (*Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.Until) {
		return nil, false
	}
	r := e.Report
	return &r, true
}

// Put stores r under key until the given time.
func (c *MemoryCache) Put(key string, r *Report, until time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]cacheEntry)
	}
	limit := c.Max
	if limit <= 0 {
		limit = 10000
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= limit {
		c.evict(time.Now(), limit)
	}
	c.entries[key] = cacheEntry{Until: until, Report: *r}
	return nil
}

// evict drops expired entries, or else the one that expires soonest.
func (c *MemoryCache) evict(now time.Time, limit int) {
	soonest, first := "", true
	for k, e := range c.entries {
		if !now.Before(e.Until) {
			delete(c.entries, k)
			continue
		}
		if first || e.Until.Before(c.entries[soonest].Until) {
			soonest, first = k, false
		}
	}
	if len(c.entries) >= limit && soonest != "" {
		delete(c.entries, soonest)
	}
}

// ownedPrivate reports whether path belongs to the current user and nobody
// else can change it: a directory not writable by group or others, or a
// regular file (not a symbolic link) readable by its owner only.
func ownedPrivate(path string, dir bool) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	if dir {
		return fi.IsDir() && fi.Mode().Perm()&0o022 == 0
	}
	return fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 == 0
}
