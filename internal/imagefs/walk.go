// Package imagefs reads container image layers safely: streamed (never a
// whole layer in memory), every blob's digest verified, paths normalised,
// no entry allowed to escape the image root, and limits on size, file
// count and compression ratio so a hostile layer (a decompression bomb,
// a path traversal) fails fast with a clear error.
package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Limits bound what reading an image may cost. Zero fields take the
// defaults (DefaultLimits).
type Limits struct {
	// MaxBytes caps the uncompressed bytes of all layers together.
	MaxBytes int64
	// MaxFiles caps the tar entries of all layers together.
	MaxFiles int64
	// MaxRatio caps a layer's uncompressed/compressed size ratio; it is
	// checked once a layer has produced RatioFloor uncompressed bytes
	// (small layers of zeros compress far better than any bomb matters).
	MaxRatio   float64
	RatioFloor int64
}

// DefaultLimits fit real images with a wide margin: 32 GiB uncompressed,
// 4 million files, ratio 250 past the first 64 MiB of a layer.
var DefaultLimits = Limits{MaxBytes: 32 << 30, MaxFiles: 4_000_000, MaxRatio: 250, RatioFloor: 64 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultLimits.MaxRatio
	}
	if l.RatioFloor <= 0 {
		l.RatioFloor = DefaultLimits.RatioFloor
	}
	return l
}

// ErrLimit is wrapped by the errors of a read that crossed a limit.
var ErrLimit = errors.New("image exceeds a reading limit")

// ErrUnsafe is wrapped by the errors of an entry that would escape the
// image root or is otherwise malformed.
var ErrUnsafe = errors.New("unsafe layer entry")

// Kind is what a layer entry is.
type Kind int

// Kinds of entries.
const (
	File     Kind = iota // a regular file (content readable)
	Dir                  // a directory
	Symlink              // a symbolic link (Target is its raw target)
	Hardlink             // a hard link to an earlier entry (Target: that entry's path)
	Whiteout             // removes Path (and what is under it) of lower layers
	Opaque               // hides everything of lower layers under the directory Path
	Other                // device, fifo: no content
)

// Entry is one normalised entry of a layer.
type Entry struct {
	// Path is absolute and clean ("/etc/os-release"); never escapes "/".
	Path string
	Kind Kind
	Mode fs.FileMode
	Size int64
	// Target is a symlink's target as written, or a hard link's target
	// path (absolute, clean).
	Target string
	// Layer is the layer's position (0 = bottom) and LayerDigest its
	// digest.
	Layer       int
	LayerDigest string
}

// Info returns a fs.FileInfo describing the entry.
func (e Entry) Info() fs.FileInfo { return entryInfo{e} }

type entryInfo struct{ e Entry }

func (i entryInfo) Name() string       { return path.Base(i.e.Path) }
func (i entryInfo) Size() int64        { return i.e.Size }
func (i entryInfo) Mode() fs.FileMode  { return i.e.Mode }
func (i entryInfo) IsDir() bool        { return i.e.Kind == Dir }
func (i entryInfo) Sys() any           { return nil }
func (i entryInfo) ModTime() time.Time { return time.Time{} }

// LayerInfo describes a layer when it starts.
type LayerInfo struct {
	Index  int
	Digest string // the blob digest (for a docker save archive: the diff ID)
	DiffID string
	Size   int64 // compressed size (as stored)
}

// Visitor receives the layers' entries, bottom layer first, in tar order.
// For a File, r reads its content (it need not be read to the end).
type Visitor interface {
	StartLayer(l LayerInfo) error
	Entry(e Entry, r io.Reader) error
}

// Layers lists img's layers, bottom first.
func Layers(img *Image) ([]LayerInfo, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", img.Name, err)
	}
	if img.archive != "" {
		if len(cf.RootFS.DiffIDs) != len(img.archiveLayers) {
			return nil, fmt.Errorf("%s: config lists %d layers, manifest.json %d", img.Name, len(cf.RootFS.DiffIDs), len(img.archiveLayers))
		}
		out := make([]LayerInfo, len(img.archiveLayers))
		for i, d := range cf.RootFS.DiffIDs {
			out[i] = LayerInfo{Index: i, Digest: d.String(), DiffID: d.String()}
		}
		return out, nil
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers of %s: %w", img.Name, err)
	}
	if len(cf.RootFS.DiffIDs) != len(ls) {
		return nil, fmt.Errorf("%s: config lists %d layers, manifest %d", img.Name, len(cf.RootFS.DiffIDs), len(ls))
	}
	out := make([]LayerInfo, len(ls))
	for i, l := range ls {
		out[i] = LayerInfo{Index: i, DiffID: cf.RootFS.DiffIDs[i].String()}
		if img.uncompressedLayers {
			out[i].Digest = out[i].DiffID
			continue
		}
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer %d of %s: %w", i, img.Name, err)
		}
		out[i].Digest = d.String()
		if out[i].Size, err = l.Size(); err != nil {
			return nil, fmt.Errorf("layer %d of %s: %w", i, img.Name, err)
		}
	}
	return out, nil
}

// Walk streams every layer of img through v, checking each blob against
// its digest (a mismatch is an error after the layer was read) and
// enforcing lim.
func Walk(ctx context.Context, img *Image, lim Limits, v Visitor) error {
	lim = lim.withDefaults()
	infos, err := Layers(img)
	if err != nil {
		return err
	}
	w := &walker{lim: lim, v: v}
	var ls []v1.Layer
	if img.archive == "" {
		if ls, err = img.Layers(); err != nil {
			return fmt.Errorf("list layers of %s: %w", img.Name, err)
		}
	}
	open := func(i int) (io.ReadCloser, error) {
		if img.archive != "" {
			return openInArchive(img.archive, img.archiveLayers[i])
		}
		if img.uncompressedLayers {
			return ls[i].Uncompressed()
		}
		return ls[i].Compressed()
	}
	for i := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := v.StartLayer(infos[i]); err != nil {
			return err
		}
		want := infos[i].Digest
		rc, err := open(i)
		if err != nil {
			return fmt.Errorf("open layer %s: %w", want, err)
		}
		// A docker save archive's layer files may be compressed or not;
		// either way the config's diff ID names the uncompressed tar.
		w.verifyPlain = img.archive != "" || img.uncompressedLayers
		err = w.layer(ctx, infos[i], rc, want)
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d (%s) of %s: %w", i, short(want), img.Name, err)
		}
	}
	return nil
}

// WalkLayer reads one layer blob from r (compressed as stored, or a plain
// tar), verifying it against digest ("sha256:…"; empty skips the check).
func WalkLayer(ctx context.Context, info LayerInfo, r io.Reader, lim Limits, v Visitor) error {
	w := &walker{lim: lim.withDefaults(), v: v}
	if err := v.StartLayer(info); err != nil {
		return err
	}
	return w.layer(ctx, info, r, info.Digest)
}

type walker struct {
	lim Limits
	v   Visitor
	// verifyPlain checks the digest against the uncompressed tar (a diff
	// ID) instead of the blob as stored.
	verifyPlain bool
	bytes       int64 // uncompressed bytes so far, all layers
	content     int64 // file contents delivered so far, all layers
	files       int64
}

func (w *walker) layer(ctx context.Context, info LayerInfo, blob io.Reader, digest string) error {
	var h hash.Hash
	if digest != "" {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("unsupported digest algorithm in %q", digest)
		}
		h = sha256.New()
		if !w.verifyPlain {
			blob = io.TeeReader(blob, h)
		}
	}
	compressed := &counter{r: blob}
	br := bufio.NewReaderSize(compressed, 32<<10)
	magic, _ := br.Peek(4)
	var plain io.Reader = br
	isCompressed := true
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		plain = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// A zstd frame may ask for a window of gigabytes: cap it, so
		// memory stays bounded whatever the header says.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		plain = zr
	default:
		isCompressed = false
	}
	if h != nil && w.verifyPlain {
		plain = io.TeeReader(plain, h)
	}
	lr := &limitedReader{r: plain, w: w, compressed: compressed, checkRatio: isCompressed}
	tr := tar.NewReader(lr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.err != nil {
				return lr.err
			}
			return fmt.Errorf("read tar: %w", err)
		}
		w.files++
		if w.files > w.lim.MaxFiles {
			return fmt.Errorf("%w: more than %d files (--max-files)", ErrLimit, w.lim.MaxFiles)
		}
		e, err := entryOf(hdr, info)
		if err != nil {
			return err
		}
		var r io.Reader = eofReader{}
		if e.Kind == File {
			r = &contentReader{r: tr, w: w, raw: lr, start: lr.layerBytes, name: hdr.Name}
		}
		if err := w.v.Entry(e, r); err != nil {
			if lr.err != nil {
				return lr.err
			}
			return err
		}
	}
	// Read what follows the tar's end (padding) so the whole blob is
	// hashed and the decompressor checks its trailer.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		if lr.err != nil {
			return lr.err
		}
		return fmt.Errorf("read layer end: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("read layer end: %w", err)
	}
	if h != nil {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
			return fmt.Errorf("%w: layer content has digest %s, want %s", ErrUnsafe, got, digest)
		}
	}
	return nil
}

// entryOf normalises a tar header into an Entry, refusing names and hard
// links that leave the root.
func entryOf(hdr *tar.Header, info LayerInfo) (Entry, error) {
	if len(hdr.Linkname) > maxPathBytes {
		return Entry{}, fmt.Errorf("%w: link target of %.80q… is %d bytes long (at most %d)", ErrUnsafe, hdr.Name, len(hdr.Linkname), maxPathBytes)
	}
	if isSparse(hdr) {
		// archive/tar expands sparse holes itself, past the byte limits
		// counted under it; container layers do not use them.
		return Entry{}, fmt.Errorf("%w: %q is a sparse file, which container layers do not use", ErrUnsafe, hdr.Name)
	}
	p, err := cleanPath(hdr.Name)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Path: p, Mode: hdr.FileInfo().Mode(), Size: hdr.Size, Layer: info.Index, LayerDigest: info.Digest}
	dir, base := path.Split(p)
	switch {
	case base == ".wh..wh..opq":
		e.Kind, e.Path = Opaque, path.Clean(dir)
		return e, nil
	case strings.HasPrefix(base, ".wh."):
		e.Kind, e.Path = Whiteout, path.Join(dir, strings.TrimPrefix(base, ".wh."))
		if e.Path == "/" {
			return Entry{}, fmt.Errorf("%w: whiteout of the root (%q)", ErrUnsafe, hdr.Name)
		}
		return e, nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse: // the reader turns the old TypeRegA into TypeReg
		e.Kind = File
		if hdr.Size < 0 {
			return Entry{}, fmt.Errorf("%w: %q has a negative size", ErrUnsafe, hdr.Name)
		}
	case tar.TypeDir:
		e.Kind = Dir
	case tar.TypeSymlink:
		e.Kind, e.Target = Symlink, hdr.Linkname
	case tar.TypeLink:
		t, err := cleanPath(hdr.Linkname)
		if err != nil {
			return Entry{}, fmt.Errorf("hard link %q: %w", hdr.Name, err)
		}
		e.Kind, e.Target = Hardlink, t
	default:
		e.Kind = Other
	}
	return e, nil
}

// cleanPath makes a tar name absolute and clean, refusing one whose ".."
// segments climb above the root (a leading "/" is the image root, as
// container runtimes read it).
func cleanPath(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: invalid entry name %q", ErrUnsafe, name)
	}
	if len(name) > maxPathBytes || strings.Count(name, "/") > maxPathDepth {
		return "", fmt.Errorf("%w: entry name %.80q… is %d bytes and %d levels deep (at most %d and %d)",
			ErrUnsafe, name, len(name), strings.Count(name, "/"), maxPathBytes, maxPathDepth)
	}
	rel := strings.TrimLeft(name, "/")
	depth := 0
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("%w: %q escapes the image root", ErrUnsafe, name)
			}
		default:
			depth++
		}
	}
	return path.Clean("/" + rel), nil
}

// maxPathBytes and maxPathDepth bound entry names and link targets
// (Linux's PATH_MAX is 4096): longer ones, which tar's PAX headers allow,
// only serve to make path handling slow.
const (
	maxPathBytes = 4096
	maxPathDepth = 256
)

// isSparse reports a sparse file entry (GNU type 'S', or PAX GNU.sparse
// records on a regular file).
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// ResolveLink resolves a symlink target found at linkPath the way it
// resolves inside a container: relative to the link's directory, an
// absolute target from the image root, and ".." never above the root.
func ResolveLink(linkPath, target string) string {
	if !strings.HasPrefix(target, "/") {
		target = path.Join(path.Dir(linkPath), target)
	}
	return path.Clean("/" + target) // path.Clean stops ".." at "/"
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// limitedReader counts uncompressed bytes against the limits as they are
// produced: a bomb is stopped when it crosses them, not after.
type limitedReader struct {
	r          io.Reader
	w          *walker
	compressed *counter
	checkRatio bool
	layerBytes int64
	err        error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	l.layerBytes += int64(n)
	l.w.bytes += int64(n)
	switch {
	case l.w.bytes > l.w.lim.MaxBytes:
		l.err = fmt.Errorf("%w: more than %d uncompressed bytes (--max-bytes)", ErrLimit, l.w.lim.MaxBytes)
	case l.checkRatio && l.layerBytes > l.w.lim.RatioFloor &&
		float64(l.layerBytes) > l.w.lim.MaxRatio*float64(max(1, l.compressed.n)):
		l.err = fmt.Errorf("%w: layer expands more than %.0f times (%d bytes from %d; a decompression bomb? --max-ratio)",
			ErrLimit, l.w.lim.MaxRatio, l.layerBytes, l.compressed.n)
	}
	if l.err != nil {
		return n, l.err
	}
	return n, err
}

// contentReader counts the file contents archive/tar delivers against
// the byte limit too (they can only exceed the bytes under it for sparse
// entries, which are refused, but the limit must hold whatever tar does).
type contentReader struct {
	r         io.Reader
	w         *walker
	raw       *limitedReader
	start     int64 // raw bytes of the layer before this entry's data
	delivered int64
	name      string
}

func (c *contentReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.w.content += int64(n)
	c.delivered += int64(n)
	switch {
	case c.w.content > c.w.lim.MaxBytes:
		return n, fmt.Errorf("%w: more than %d bytes of file contents (--max-bytes)", ErrLimit, c.w.lim.MaxBytes)
	case c.delivered > c.raw.layerBytes-c.start+blockSlack:
		// More content than the archive holds for it: holes of a sparse
		// entry (PAX GNU.sparse records, which archive/tar consumes).
		return n, fmt.Errorf("%w: %q is a sparse file, which container layers do not use", ErrUnsafe, c.name)
	}
	return n, err
}

// blockSlack is how far tar's reads may run ahead of the content it
// delivers (a header block and padding).
const blockSlack = 2 * 512

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
