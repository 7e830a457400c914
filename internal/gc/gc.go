// Package gc removes what no manifest needs: blob links no manifest of
// their repository references, blob bytes no repository holds, abandoned
// uploads, and leftovers of interrupted writes.
//
// It is safe beside a running registry: links and bytes younger than a
// grace period are kept (they may belong to a push whose manifest has not
// arrived yet), and bytes are deleted under the registry's commit lock,
// after checking again that nothing links them.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// Metadata is what collection needs from the metadata store.
type Metadata interface {
	DeleteUnreferencedLinks(ctx context.Context, olderThan time.Time, dryRun bool) ([]store.Link, error)
	LinkCount(ctx context.Context, digest string) (int, error)
	StaleUploads(ctx context.Context, before time.Time) ([]store.Upload, error)
	UploadExists(ctx context.Context, id string) (bool, error)
	DeleteUpload(ctx context.Context, id string) error
}

// Options of one collection.
type Options struct {
	DryRun bool
	// Grace keeps links and bytes younger than this (default 1h).
	Grace time.Duration
	// UploadMaxAge removes uploads untouched for longer (default 24h).
	UploadMaxAge time.Duration
	// Exclusive says no registry runs on the data (the caller holds its
	// lock), so nothing is in flight and every leftover can go at once.
	Exclusive bool
	// LeftoversOnly removes only upload files with no session (what a
	// killed process left), the quick clean-up at start.
	LeftoversOnly bool
}

// Report says what a collection removed (or, dry, would remove).
type Report struct {
	DryRun          bool         `json:"dry_run"`
	LinksRemoved    []store.Link `json:"links_removed"`
	BlobsDeleted    int          `json:"blobs_deleted"`
	BytesFreed      int64        `json:"bytes_freed"`
	UploadsRemoved  int          `json:"uploads_removed"`
	LeftoversPurged int          `json:"leftovers_removed"`
}

// Collector runs collections over one data directory.
type Collector struct {
	meta  Metadata
	blobs storage.Store
	lock  *sync.RWMutex // the registry's commit lock
	log   *slog.Logger
}

// New returns a collector. lock must be the registry's commit lock when a
// registry serves the same data.
func New(meta Metadata, blobs storage.Store, lock *sync.RWMutex, log *slog.Logger) *Collector {
	if lock == nil {
		lock = &sync.RWMutex{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{meta: meta, blobs: blobs, lock: lock, log: log}
}

// Run collects once.
func (c *Collector) Run(ctx context.Context, opts Options) (Report, error) {
	if opts.Grace <= 0 && !opts.Exclusive {
		opts.Grace = time.Hour
	}
	if opts.UploadMaxAge <= 0 {
		opts.UploadMaxAge = 24 * time.Hour
	}
	rep := Report{DryRun: opts.DryRun, LinksRemoved: []store.Link{}}
	now := time.Now()
	cutoff := now.Add(-opts.Grace)
	if opts.Exclusive {
		cutoff = now
	}

	var stale []store.Upload
	if !opts.LeftoversOnly {
		var err error
		if stale, err = c.meta.StaleUploads(ctx, now.Add(-opts.UploadMaxAge)); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
	}
	for _, u := range stale {
		if !opts.DryRun {
			if err := c.meta.DeleteUpload(ctx, u.ID); err != nil {
				return rep, fmt.Errorf("gc: %w", err)
			}
			if err := c.blobs.RemoveUpload(ctx, u.ID); err != nil {
				return rep, fmt.Errorf("gc: %w", err)
			}
		}
		rep.UploadsRemoved++
	}

	// Upload files with no session: interrupted monolithic pushes.
	var orphans []string
	err := c.blobs.WalkUploads(ctx, func(u storage.UploadInfo) error {
		if !opts.Exclusive && u.ModTime.After(cutoff) {
			return nil
		}
		ok, err := c.meta.UploadExists(ctx, u.ID)
		if err != nil {
			return err
		}
		if !ok {
			orphans = append(orphans, u.ID)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: list uploads: %w", err)
	}
	for _, id := range orphans {
		if !opts.DryRun {
			if err := c.blobs.RemoveUpload(ctx, id); err != nil {
				return rep, fmt.Errorf("gc: %w", err)
			}
		}
		rep.LeftoversPurged++
	}
	if opts.LeftoversOnly {
		return rep, nil
	}

	links, err := c.meta.DeleteUnreferencedLinks(ctx, cutoff, opts.DryRun)
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	rep.LinksRemoved = append(rep.LinksRemoved, links...)
	// In a dry run the links are still there: count those that would go.
	dropped := map[string]int{}
	if opts.DryRun {
		for _, l := range links {
			dropped[l.Digest]++
		}
	}

	var candidates []storage.Info
	err = c.blobs.Walk(ctx, func(b storage.Info) error {
		if b.ModTime.After(cutoff) {
			return nil
		}
		n, err := c.meta.LinkCount(ctx, b.Digest.String())
		if err != nil {
			return err
		}
		if n <= dropped[b.Digest.String()] {
			candidates = append(candidates, b)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: list blobs: %w", err)
	}
	for _, b := range candidates {
		if opts.DryRun {
			rep.BlobsDeleted++
			rep.BytesFreed += b.Size
			continue
		}
		deleted, err := c.deleteBlob(ctx, b, cutoff)
		if err != nil {
			return rep, err
		}
		if deleted {
			rep.BlobsDeleted++
			rep.BytesFreed += b.Size
		}
	}
	c.log.InfoContext(ctx, "garbage collection", "dry_run", opts.DryRun, "links_removed", len(rep.LinksRemoved),
		"blobs_deleted", rep.BlobsDeleted, "bytes_freed", rep.BytesFreed, "uploads_removed", rep.UploadsRemoved,
		"leftovers_removed", rep.LeftoversPurged)
	return rep, nil
}

// deleteBlob removes b's bytes if, under the commit lock, nothing links
// them and they were not refreshed by a commit meanwhile.
func (c *Collector) deleteBlob(ctx context.Context, b storage.Info, cutoff time.Time) (bool, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	n, err := c.meta.LinkCount(ctx, b.Digest.String())
	if err != nil {
		return false, fmt.Errorf("gc: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	cur, err := c.blobs.Stat(ctx, b.Digest)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gc: %w", err)
	}
	if cur.ModTime.After(cutoff) {
		return false, nil
	}
	if err := c.blobs.Delete(ctx, b.Digest); err != nil {
		return false, fmt.Errorf("gc: %w", err)
	}
	return true, nil
}
