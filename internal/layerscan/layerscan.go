// Package layerscan scans the files of every layer of an image, one layer
// at a time and not only the flattened filesystem, for malware (with
// clamd) and for secrets: a file added in one layer and deleted in a
// later one still ships in the image and is reported with its layer.
//
// The layers are read once, streaming. Files up to a buffer size are read
// into memory (under a total memory budget) and handed to a bounded pool
// of workers, so clamd scans several files at a time while the next ones
// are decompressed; larger files are streamed to clamd directly. Each
// file has its own timeout. Anything that keeps a file from being scanned
// whole makes the malware result an error, never clean.
package layerscan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/cssc-project/cssc/internal/clamd"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/secrets"
)

// Clamd is the malware engine (a *clamd.Client).
type Clamd interface {
	Address() string
	Version(ctx context.Context) (clamd.Version, error)
	Ping(ctx context.Context) error
	Scan(ctx context.Context, r io.Reader) (clamd.Result, error)
	ScanBytes(ctx context.Context, data []byte) (clamd.Result, error)
}

// Defaults of Options.
const (
	DefaultWorkers     = 4
	DefaultFileTimeout = 3 * time.Minute
	// DefaultBufferSize is the largest file read into memory and scanned
	// by a worker; larger files are streamed from the layer.
	DefaultBufferSize = 4 << 20
	// DefaultMemory is the memory budget for files read ahead.
	DefaultMemory = 64 << 20
)

// Options say what to scan for and how.
type Options struct {
	// Limits bound what the layers may expand to.
	Limits imagefs.Limits
	// Clamd scans for malware; nil: no malware scan.
	Clamd Clamd
	// MaxDatabaseAge: a signature database older than this is an error.
	// 0 means malware.DefaultMaxDatabaseAge; negative turns the check off.
	MaxDatabaseAge time.Duration
	// FileTimeout bounds the scan of one file (sending it and clamd's
	// verdict). 0 means DefaultFileTimeout.
	FileTimeout time.Duration
	// Workers is how many files are scanned at once. 0 means
	// DefaultWorkers. Keep it at or below clamd's MaxThreads.
	Workers int
	// Secrets detects secrets; nil: no secret scan.
	Secrets *secrets.Detector
	// Log receives progress at debug level; nil discards.
	Log *slog.Logger
	// Now is the clock for the database age check; nil means time.Now.
	Now func() time.Time
}

// Result holds the scans that ran: nil for one not asked for.
type Result struct {
	Malware *malware.Result
	Secrets *secrets.Result
}

// Run scans img's layers (and, for secrets, its configuration). Problems
// with the image or the engine are recorded in the results, which are
// finished (Status set); Run's own error is only for a cancelled ctx or
// no scan asked for.
func Run(ctx context.Context, img *imagefs.Image, opts Options) (Result, error) {
	if opts.Clamd == nil && opts.Secrets == nil {
		return Result{}, errors.New("layer scan: neither a malware nor a secret scan was asked for")
	}
	s := newScan(opts)
	var res Result
	if opts.Clamd != nil {
		res.Malware = s.mw
		s.startMalware(ctx)
	}
	if opts.Secrets != nil {
		res.Secrets = s.sc
		s.scanConfig(img)
	}
	if s.mwOn || s.sc != nil {
		if err := s.walk(ctx, img); err != nil {
			return Result{}, err
		}
	}
	s.finish()
	return res, nil
}

type scan struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex // guards what follows
	mw *malware.Result
	sc *secrets.Result
	// mwOn: files go to clamd (false when it was unreachable at the start
	// or failed during the scan).
	mwOn    bool
	mwSeq   []int // the sequence number of each malware finding
	probSeq []int // … of each problem
	scSeq   []int // … of each secret finding
	// timeouts counts files in a row that timed out.
	timeouts int
	memory   *semaphore.Weighted
	buffers  bufferPool
	bufMax   int64
}

func newScan(opts Options) *scan {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.FileTimeout <= 0 {
		opts.FileTimeout = DefaultFileTimeout
	}
	if opts.MaxDatabaseAge == 0 {
		opts.MaxDatabaseAge = malware.DefaultMaxDatabaseAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &scan{opts: opts, log: log, bufMax: DefaultBufferSize}
	budget := int64(DefaultMemory)
	if opts.Secrets != nil {
		s.sc = &secrets.Result{Engine: opts.Secrets.Engine()}
		s.bufMax = max(s.bufMax, opts.Secrets.MaxFileSize())
	}
	s.memory = semaphore.NewWeighted(max(budget, 2*s.bufMax))
	if opts.Clamd != nil {
		s.mw = &malware.Result{Engine: malware.Engine{Name: "ClamAV", Address: opts.Clamd.Address()}}
	}
	return s
}

// startMalware asks clamd for its version, judges its database and checks
// that clamd reports files its limits cut short.
func (s *scan) startMalware(ctx context.Context) {
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := s.opts.Clamd.Version(vctx)
	if err != nil {
		s.mw.Error = fmt.Sprintf("clamd is not reachable: %v", err)
		return
	}
	e := &s.mw.Engine
	e.Name, e.Version, e.DatabaseVersion, e.DatabaseDate = v.Engine, v.EngineVersion, v.DatabaseVersion, v.DatabaseDate
	problem, warning := malware.CheckDatabase(*e, s.opts.MaxDatabaseAge, s.opts.Now())
	if warning != "" {
		s.mw.Warnings = append(s.mw.Warnings, warning)
	}
	if problem != "" {
		s.mw.Error = problem
		return
	}
	// clamd without AlertExceedsMax passes what its limits cut short as
	// clean, and its configuration cannot be read over the socket: ask it
	// to judge a file that exceeds its recursion limit.
	// The same for encrypted archives and documents (AlertEncrypted).
	for _, p := range []struct {
		name  string
		data  []byte
		check func(string) error
	}{
		{"limits", malware.LimitsProbe(), malware.CheckLimitsProbe},
		{"encryption", malware.EncryptedProbe(), malware.CheckEncryptedProbe},
	} {
		res, err := s.opts.Clamd.ScanBytes(vctx, p.data)
		if err != nil {
			s.mw.Error = fmt.Sprintf("clamd failed the %s probe: %v", p.name, err)
			return
		}
		if err := p.check(res.Signature); err != nil {
			s.mw.Error = err.Error()
			return
		}
	}
	s.mwOn = true
}

// scanConfig looks for secrets in the image configuration.
func (s *scan) scanConfig(img *imagefs.Image) {
	cf, err := img.ConfigFile()
	if err != nil {
		s.sc.Error = fmt.Sprintf("read the image configuration: %v", err)
		return
	}
	infos, err := imagefs.Layers(img)
	if err != nil {
		s.sc.Error = err.Error()
		return
	}
	digests := make([]string, len(infos))
	for i, l := range infos {
		digests[i] = l.Digest
	}
	kept, allowlisted := s.opts.Secrets.Config(cf, digests)
	s.sc.Allowlisted += allowlisted
	// Configuration findings come after every layer's.
	for _, f := range kept {
		s.sc.Findings = append(s.sc.Findings, f)
		s.scSeq = append(s.scSeq, math.MaxInt)
	}
}

// job is one file read into memory.
type job struct {
	seq    int
	entry  imagefs.Entry
	data   []byte
	charge int64 // what it holds of the memory budget
}

// walk streams the layers, feeding the workers.
func (s *scan) walk(ctx context.Context, img *imagefs.Image) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, s.opts.Workers)
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.scanFile(wctx, j)
				s.buffers.put(j.data)
				s.memory.Release(j.charge)
			}
		}()
	}
	v := &visitor{s: s, ctx: wctx, jobs: jobs}
	err := imagefs.Walk(wctx, img, s.opts.Limits, v)
	close(jobs)
	wg.Wait()
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil && !errors.Is(err, errNothingLeft) {
		msg := fmt.Sprintf("read the image's layers: %v", err)
		s.mu.Lock()
		if s.mw != nil && s.mw.Error == "" {
			s.mw.Error = msg
		}
		if s.sc != nil && s.sc.Error == "" {
			s.sc.Error = msg
		}
		s.mu.Unlock()
	}
	return nil
}

// errNothingLeft stops the walk when no scan wants more files (clamd
// failed and no secret scan runs): the result already says why.
var errNothingLeft = errors.New("nothing left to scan")

type visitor struct {
	s     *scan
	ctx   context.Context
	jobs  chan<- job
	layer imagefs.LayerInfo
	seq   int
}

func (v *visitor) StartLayer(l imagefs.LayerInfo) error {
	v.layer = l
	v.s.mu.Lock()
	if v.s.mw != nil {
		v.s.mw.Layers++
	}
	v.s.mu.Unlock()
	v.s.log.Debug("scanning layer", "layer", l.Index, "digest", l.Digest)
	return nil
}

func (v *visitor) Entry(e imagefs.Entry, r io.Reader) error {
	if e.Kind != imagefs.File || e.Size == 0 {
		return nil
	}
	s := v.s
	s.mu.Lock()
	wantMalware := s.mwOn
	s.mu.Unlock()
	wantSecrets := s.sc != nil && e.Size <= s.opts.Secrets.MaxFileSize()
	if s.sc != nil && !wantSecrets {
		s.mu.Lock()
		s.sc.SkippedLarge++
		s.mu.Unlock()
	}
	if !wantMalware && !wantSecrets {
		if !wantMalware && s.sc == nil {
			return errNothingLeft
		}
		return nil
	}
	v.seq++
	if e.Size > s.bufMax {
		// Too large to hold: stream it to clamd from the layer.
		s.scanMalware(v.ctx, v.seq, e, nil, r)
		return nil
	}
	// The budget counts what the pooled buffer really holds (its size
	// class), not only what the file fills.
	charge := int64(1) << sizeClass(int(e.Size))
	if err := s.memory.Acquire(v.ctx, charge); err != nil {
		return err
	}
	data := s.buffers.get(int(e.Size))
	if _, err := io.ReadFull(r, data); err != nil {
		s.buffers.put(data)
		s.memory.Release(charge)
		return fmt.Errorf("read %s: %w", e.Path, err)
	}
	select {
	case v.jobs <- job{seq: v.seq, entry: e, data: data, charge: charge}:
		return nil
	case <-v.ctx.Done():
		s.buffers.put(data)
		s.memory.Release(charge)
		return v.ctx.Err()
	}
}

// scanFile scans one file held in memory.
func (s *scan) scanFile(ctx context.Context, j job) {
	s.mu.Lock()
	wantMalware := s.mwOn
	s.mu.Unlock()
	if wantMalware {
		s.scanMalware(ctx, j.seq, j.entry, j.data, nil)
	}
	if s.sc != nil && int64(len(j.data)) <= s.opts.Secrets.MaxFileSize() {
		s.scanSecrets(j)
	}
}

// maxTimeouts is how many files in a row may time out before the scan
// stops: a clamd that answers PING but judges nothing in time would
// otherwise hold the scan for FileTimeout per file.
const maxTimeouts = 3

// scanMalware sends one file to clamd, from memory (data) or streaming
// (r), and records the verdict.
func (s *scan) scanMalware(ctx context.Context, seq int, e imagefs.Entry, data []byte, r io.Reader) {
	fctx, cancel := context.WithTimeout(ctx, s.opts.FileTimeout)
	defer cancel()
	var res clamd.Result
	var err error
	if r == nil {
		res, err = s.opts.Clamd.ScanBytes(fctx, data)
	} else {
		res, err = s.opts.Clamd.Scan(fctx, r)
	}
	timedOut := err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
	var alive error
	if timedOut {
		// Is clamd still there? A short PING tells a slow file from a
		// daemon that stopped answering.
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		alive = s.opts.Clamd.Ping(pctx)
		pcancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	problem := func(reason string) {
		n := len(s.mw.Problems)
		s.mw.AddProblem(malware.Problem{Layer: e.Layer, LayerDigest: e.LayerDigest, Path: e.Path, Reason: reason})
		if len(s.mw.Problems) > n {
			s.probSeq = append(s.probSeq, seq)
		}
	}
	if err == nil && res.Signature != "" && malware.Unscanned(res.Signature) == "" {
		// A detection counts whatever happened to other files.
		s.mw.Files++
		s.mw.Bytes += res.Bytes
		s.addFinding(seq, malware.Finding{Layer: e.Layer, LayerDigest: e.LayerDigest, Path: e.Path, Signature: res.Signature})
		s.log.Debug("malware found", "layer", e.LayerDigest, "path", e.Path, "signature", res.Signature)
		return
	}
	if !s.mwOn {
		return // clamd failed on another file: that is the result
	}
	if !timedOut {
		s.timeouts = 0
	}
	var re *clamd.ReplyError
	var readErr *clamd.ReadError
	switch {
	case err == nil && res.Bytes != e.Size:
		problem(fmt.Sprintf("not scanned whole: %d of its %d bytes were sent", res.Bytes, e.Size))
	case err == nil && res.Signature != "":
		s.mw.Files++
		s.mw.Bytes += res.Bytes
		problem(malware.Unscanned(res.Signature))
	case err == nil:
		s.mw.Files++
		s.mw.Bytes += res.Bytes
	case errors.Is(err, clamd.ErrTooLarge):
		problem(fmt.Sprintf("not scanned (too large: %d bytes is over clamd's StreamMaxLength; raise StreamMaxLength, MaxFileSize and MaxScanSize in clamd.conf)", e.Size))
	case errors.As(err, &readErr):
		// The layer could not be read (the walk reports why): not
		// clamd's fault, and not scanned.
		problem("not scanned: " + err.Error())
	case ctx.Err() != nil:
		// The whole scan stopped (cancelled, or a layer failed): the
		// walk's error says why.
		if s.mw.Error == "" {
			s.mw.Error = fmt.Sprintf("scan stopped at %s: %v", e.Path, ctx.Err())
		}
	case timedOut:
		problem(fmt.Sprintf("not scanned: timed out after %s", s.opts.FileTimeout))
		s.timeouts++
		switch {
		case alive != nil:
			s.mw.Error = fmt.Sprintf("clamd stopped answering during the scan (a file timed out after %s at %s, then PING failed: %v)", s.opts.FileTimeout, e.Path, alive)
			s.mwOn = false
		case s.timeouts >= maxTimeouts:
			s.mw.Error = fmt.Sprintf("clamd judged none of %d files in a row within %s (the last at %s): stopped the scan", s.timeouts, s.opts.FileTimeout, e.Path)
			s.mwOn = false
		}
	case errors.As(err, &re):
		problem("not scanned: " + err.Error())
	default:
		// The connection or the protocol failed: clamd is down or not
		// clamd. Stop sending files; the scan is an error.
		s.mw.Error = fmt.Sprintf("clamd failed during the scan (at %s in layer %d): %v", e.Path, e.Layer, err)
		s.mwOn = false
	}
}

// MaxFindings is how many findings of each kind a result lists; the rest
// are counted (a hostile image could hold millions).
const MaxFindings = 10000

// addFinding records a malware finding (s.mu held).
func (s *scan) addFinding(seq int, f malware.Finding) {
	if len(s.mw.Findings) >= MaxFindings {
		s.mw.MoreFindings++
		return
	}
	s.mw.Findings = append(s.mw.Findings, f)
	s.mwSeq = append(s.mwSeq, seq)
}

// scanSecrets looks for secrets in one file.
func (s *scan) scanSecrets(j job) {
	loc := secrets.Finding{Source: secrets.SourceLayer, Path: j.entry.Path, Layer: j.entry.Layer, LayerDigest: j.entry.LayerDigest}
	text := secrets.IsText(j.data)
	var kept []secrets.Finding
	var allowlisted int
	if text {
		kept, allowlisted = s.opts.Secrets.File(loc, j.data)
	} else {
		// Only the rules on file names apply (a .p12 keystore).
		kept, allowlisted = s.opts.Secrets.BinaryFile(loc, j.data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if text {
		s.sc.Files++
		s.sc.Bytes += int64(len(j.data))
	} else {
		s.sc.SkippedBinary++
	}
	s.sc.Allowlisted += allowlisted
	for _, f := range kept {
		if len(s.sc.Findings) >= MaxFindings {
			s.sc.MoreFindings++
			continue
		}
		s.sc.Findings = append(s.sc.Findings, f)
		s.scSeq = append(s.scSeq, j.seq)
	}
}

// finish orders the findings as the files lie in the layers and sets the
// verdicts.
func (s *scan) finish() {
	if s.mw != nil {
		s.mw.Findings = inOrder(s.mw.Findings, s.mwSeq)
		if len(s.probSeq) == len(s.mw.Problems) {
			s.mw.Problems = inOrder(s.mw.Problems, s.probSeq)
		}
		if s.mw.MoreFindings > 0 {
			s.mw.Warnings = append(s.mw.Warnings, fmt.Sprintf("%d more files with malware are not listed (at most %d are)", s.mw.MoreFindings, MaxFindings))
		}
		s.mw.Finish()
	}
	if s.sc != nil {
		s.sc.Findings = inOrder(s.sc.Findings, s.scSeq)
		s.sc.Finish()
	}
}

// inOrder sorts items by their sequence numbers (stable: a file's own
// findings keep their order).
func inOrder[T any](items []T, seq []int) []T {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(seq[a], seq[b]) })
	out := make([]T, len(items))
	for i, k := range idx {
		out[i] = items[k]
	}
	return out
}

// bufferPool recycles file buffers by power-of-two size class, so that
// reading thousands of files does not churn the heap.
type bufferPool struct {
	classes [24]sync.Pool // 1 B … 8 MiB
}

func sizeClass(n int) int {
	c := 0
	for 1<<c < n {
		c++
	}
	return c
}

// get returns a buffer of length n.
func (p *bufferPool) get(n int) []byte {
	c := sizeClass(n)
	if c >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// put gives a buffer back.
func (p *bufferPool) put(b []byte) {
	c := sizeClass(cap(b))
	if c >= len(p.classes) || cap(b) != 1<<c {
		return
	}
	p.classes[c].Put(&b)
}
