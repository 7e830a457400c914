package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layerTime is the modification time of generated files and the image's
// creation time, so that the same input gives the same digests.
var layerTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// writeRootfsLayer writes the tree at dir as an uncompressed layer tar:
// entries in lexical order, owners and modes as on disk, hard links as
// links to the first path seen, special files (devices, sockets, fifos)
// and the cache's marker file left out.
func writeRootfsLayer(dir, out string) (err error) {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(out + ".tmp")
		}
	}()
	tw := tar.NewWriter(f)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || rel == ".complete" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
			return nil
		}
		link := ""
		if mode&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		st, _ := info.Sys().(*syscall.Stat_t)
		if st != nil && mode.IsRegular() && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if first, ok := seen[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			seen[k] = hdr.Name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !mode.IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		_ = src.Close()
		return err
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// randomFile is a file of random bytes in a generated layer.
type randomFile struct {
	Path string // absolute, inside the image
	Size int64
}

// writeRandomLayer writes an uncompressed layer tar holding files of
// random (incompressible) bytes from seed, then a whiteout for each path
// of remove (which deletes that path of a lower layer).
func writeRandomLayer(out string, files []randomFile, remove []string, seed uint64) (err error) {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(out + ".tmp")
		}
	}()
	tw := tar.NewWriter(f)
	src := rand.NewChaCha8(seedBytes(seed))
	dirs := map[string]bool{}
	addDirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(parents[i], "/") + "/", Mode: 0o755, ModTime: layerTime}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		return nil
	}
	for _, rf := range files {
		if err := addDirs(rf.Path); err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(rf.Path, "/"), Mode: 0o644, Size: rf.Size, ModTime: layerTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, src, rf.Size); err != nil {
			return err
		}
	}
	for _, p := range remove {
		if err := addDirs(p); err != nil {
			return err
		}
		wh := path.Join(path.Dir(p), ".wh."+path.Base(p))
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(wh, "/"), Mode: 0o644, ModTime: layerTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
	}
	return b
}

// writeArchive makes an image (linux/amd64) of the layer tars, bottom
// first, and writes it as a docker save archive tagged tag; the layers
// are gzip-compressed in the archive, as go-containerregistry writes
// them.
func writeArchive(out, tag string, layerTars []string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: layerTime},
		Config: v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"bash"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return err
	}
	for _, lt := range layerTars {
		l, err := tarball.LayerFromFile(lt)
		if err != nil {
			return fmt.Errorf("layer %s: %w", lt, err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: layerTime}, CreatedBy: "bench/scan " + filepath.Base(lt)}}); err != nil {
			return err
		}
	}
	if err := tarball.WriteToFile(out+".tmp", ref, img); err != nil {
		_ = os.Remove(out + ".tmp")
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(out+".tmp", out)
}
