package imagefs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Node is a file of the image's final filesystem (all layers applied).
type Node struct {
	Path string
	Kind Kind // File or Symlink
	Size int64
	// Layer and LayerDigest name the layer that last wrote the file.
	Layer       int
	LayerDigest string
	// Target is a symlink's raw target.
	Target string
	// Extracted is true when the file's content is under the tree's Root.
	Extracted bool
	staged    string
}

// Tree is the final filesystem of an image, with the files that were
// asked for extracted to a directory. Only those files, and symlinks,
// are remembered: memory stays small for images of millions of files.
type Tree struct {
	// Root is the directory holding the extracted files at their image
	// paths (regular files and directories only: no symlink is created,
	// so nothing under Root can point outside it).
	Root   string
	Layers []LayerInfo
	nodes  map[string]*Node
	// below counts the nodes under each directory, so that replacing or
	// whiting out a directory looks for nodes only when it has some.
	below map[string]int
}

// Want decides whether a regular file is extracted. head returns the
// file's first bytes (up to HeadSize; fewer for a shorter file), read
// only when called, so a decision by path costs no read.
type Want func(e Entry, head func() []byte) bool

// HeadSize is how many leading bytes Want's head returns at most.
const HeadSize = 512

// Extract reads every layer of img and extracts to dir (which must exist
// and be empty) the files of the final filesystem for which want is true,
// applying whiteouts, opaque directories and overwrites of later layers.
func Extract(ctx context.Context, img *Image, lim Limits, dir string, want Want) (*Tree, error) {
	return ExtractWithLinks(ctx, img, lim, dir, want, nil)
}

// ExtractWithLinks is Extract remembering only the symlinks for which
// keep is true (nil: all), for callers that resolve paths in a few places
// only: an image of millions of links then costs no memory for them.
func ExtractWithLinks(ctx context.Context, img *Image, lim Limits, dir string, want Want, keep func(path string) bool) (*Tree, error) {
	b := &treeBuilder{want: want, keepLinks: keep, staging: filepath.Join(dir, ".staging"),
		t: &Tree{Root: filepath.Join(dir, "root"), nodes: map[string]*Node{}, below: map[string]int{}}}
	if err := os.MkdirAll(b.staging, 0o700); err != nil {
		return nil, err
	}
	if err := Walk(ctx, img, lim, b); err != nil {
		return nil, err
	}
	if err := b.materialise(); err != nil {
		return nil, err
	}
	return b.t, nil
}

type treeBuilder struct {
	t         *Tree
	want      Want
	keepLinks func(string) bool
	staging   string
	n         int
}

func (b *treeBuilder) StartLayer(l LayerInfo) error {
	b.t.Layers = append(b.t.Layers, l)
	return nil
}

func (b *treeBuilder) Entry(e Entry, r io.Reader) error {
	switch e.Kind {
	case Whiteout:
		b.remove(e.Path, e.Layer, true)
	case Opaque:
		b.removeUnder(e.Path, e.Layer)
	case Dir, Other:
		// A directory (or device) replaces a file or link of that name.
		b.remove(e.Path, e.Layer+1, false)
	case Symlink:
		b.remove(e.Path, e.Layer+1, true)
		if b.keepLinks == nil || b.keepLinks(e.Path) {
			b.t.add(&Node{Path: e.Path, Kind: Symlink, Target: e.Target, Layer: e.Layer, LayerDigest: e.LayerDigest})
		}
	case Hardlink:
		b.remove(e.Path, e.Layer+1, true)
		src, ok := b.t.nodes[e.Target]
		if !ok || src.Kind != File || !src.Extracted {
			return nil // a link to a file that was not wanted
		}
		staged, err := b.stage(e.Path, nil, src.staged, 0)
		if err != nil {
			return err
		}
		b.t.add(&Node{Path: e.Path, Kind: File, Size: src.Size, Layer: e.Layer, LayerDigest: e.LayerDigest, Extracted: true, staged: staged})
	case File:
		b.remove(e.Path, e.Layer+1, true)
		var br *bufio.Reader
		head := func() []byte {
			if br == nil {
				br = bufio.NewReaderSize(r, HeadSize)
			}
			h, _ := br.Peek(HeadSize) // a short file gives fewer bytes; a read error returns again below
			return h
		}
		if !b.want(e, head) {
			return nil
		}
		if br != nil {
			r = br // the peeked bytes are still to be read
		}
		staged, err := b.stage(e.Path, r, "", e.Mode)
		if err != nil {
			return err
		}
		b.t.add(&Node{Path: e.Path, Kind: File, Size: e.Size, Layer: e.Layer, LayerDigest: e.LayerDigest, Extracted: true, staged: staged})
	}
	return nil
}

// stage writes a file's content (from r, or a hard link to linkTo) to
// the staging directory. Execute bits are kept (extractors look for
// executables), write bits for others and set-id bits are not.
func (b *treeBuilder) stage(p string, r io.Reader, linkTo string, mode fs.FileMode) (string, error) {
	b.n++
	name := filepath.Join(b.staging, strconv.Itoa(b.n))
	if linkTo != "" {
		if err := os.Link(linkTo, name); err != nil {
			return "", fmt.Errorf("extract %s: %w", p, err)
		}
		return name, nil
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("extract %s: %w", p, err)
	}
	if perm := mode.Perm()&0o755 | 0o600; perm != 0o600 {
		if err := f.Chmod(perm); err != nil {
			_ = f.Close()
			return "", fmt.Errorf("extract %s: %w", p, err)
		}
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("extract %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("extract %s: %w", p, err)
	}
	return name, nil
}

// remove forgets p (and, when under, what is below it) if it came from a
// layer below before.
func (b *treeBuilder) remove(p string, before int, under bool) {
	if n, ok := b.t.nodes[p]; ok && n.Layer < before {
		b.drop(n)
	}
	if under {
		b.removeUnder(p, before)
	}
}

func (b *treeBuilder) removeUnder(dir string, before int) {
	if b.t.below[dir] == 0 {
		return
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for p, n := range b.t.nodes {
		if strings.HasPrefix(p, prefix) && n.Layer < before {
			b.drop(n)
		}
	}
}

func (b *treeBuilder) drop(n *Node) {
	if n.staged != "" {
		_ = os.Remove(n.staged)
	}
	delete(b.t.nodes, n.Path)
	for d := range ancestors(n.Path) {
		if b.t.below[d]--; b.t.below[d] == 0 {
			delete(b.t.below, d)
		}
	}
}

// ancestors yields the directories above p (absolute, clean), "/" last,
// by slicing: no cleaning per level.
func ancestors(p string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
			if !yield(p[:i]) {
				return
			}
		}
		yield("/")
	}
}

// add records n, replacing nothing (the caller removed what it replaces).
func (t *Tree) add(n *Node) {
	t.nodes[n.Path] = n
	for d := range ancestors(n.Path) {
		t.below[d]++
	}
}

// materialise moves the staged files to their paths under Root.
func (b *treeBuilder) materialise() error {
	if err := os.MkdirAll(b.t.Root, 0o700); err != nil {
		return err
	}
	for _, p := range b.t.paths() {
		n := b.t.nodes[p]
		if !n.Extracted {
			continue
		}
		dst := b.t.hostPath(p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("extract %s: conflicting entries in the image: %w", p, err)
		}
		if err := os.Rename(n.staged, dst); err != nil {
			return fmt.Errorf("extract %s: %w", p, err)
		}
		n.staged = ""
	}
	return os.RemoveAll(b.staging)
}

// hostPath is where image path p (absolute, clean) is under Root.
func (t *Tree) hostPath(p string) string {
	return filepath.Join(t.Root, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

func (t *Tree) paths() []string {
	out := make([]string, 0, len(t.nodes))
	for p := range t.nodes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Files lists the extracted files' image paths, sorted.
func (t *Tree) Files() []string {
	var out []string
	for _, p := range t.paths() {
		if t.nodes[p].Extracted {
			out = append(out, p)
		}
	}
	return out
}

// Lookup returns the node at image path p (not following symlinks).
func (t *Tree) Lookup(p string) (Node, bool) {
	n, ok := t.nodes[path.Clean("/"+p)]
	if !ok {
		return Node{}, false
	}
	return *n, true
}

// Resolve follows symlinks (in p's directories and at p) inside the image,
// never above its root, and returns the path they lead to.
func (t *Tree) Resolve(p string) (string, error) {
	p = path.Clean("/" + p)
	for hops := 0; ; hops++ {
		if hops > 40 {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		next, changed := t.resolveOnce(p)
		if !changed {
			return p, nil
		}
		p = next
	}
}

// resolveOnce replaces the first symlink among p's components.
func (t *Tree) resolveOnce(p string) (string, bool) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := ""
	for i, s := range segs {
		cur += "/" + s
		if n, ok := t.nodes[cur]; ok && n.Kind == Symlink {
			rest := strings.Join(segs[i+1:], "/")
			return path.Join(ResolveLink(cur, n.Target), rest), true
		}
	}
	return p, false
}

// Link makes the content of extracted file src also appear at image path
// dst under Root (used to give a symlinked file, such as
// /etc/os-release → ../usr/lib/os-release, its conventional path).
func (t *Tree) Link(src, dst string) error {
	n, ok := t.nodes[src]
	if !ok || !n.Extracted {
		return fmt.Errorf("link %s: %s was not extracted", dst, src)
	}
	to := t.hostPath(dst)
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return fmt.Errorf("link %s: %w", dst, err)
	}
	_ = os.Remove(to)
	if err := os.Link(t.hostPath(src), to); err != nil {
		return fmt.Errorf("link %s: %w", dst, err)
	}
	c := *n
	c.Path = dst
	if _, ok := t.nodes[dst]; ok {
		t.nodes[dst] = &c // replaced in place: the counts stay right
	} else {
		t.add(&c)
	}
	return nil
}
