package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

// rawRecord is one OSV JSON document as read from a source.
type rawRecord struct {
	name string // where it came from, for errors: "dir/x.json" or "all.zip!x.json"
	data []byte
}

// readSource calls fn with every OSV JSON document of path: a directory
// (searched recursively for *.json files) or a zip (its *.json entries).
func readSource(ctx context.Context, path string, fn func(rawRecord) error) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if st.IsDir() {
		return readDir(ctx, path, fn)
	}
	return readZip(ctx, path, fn)
}

func readDir(ctx context.Context, root string, fn func(rawRecord) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git and the like
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		data, err := readFileLimited(p)
		if err != nil {
			return err
		}
		return fn(rawRecord{name: p, data: data})
	})
}

func readFileLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("read %s: larger than the %d bytes a record may have", p, MaxRecordSize)
	}
	return data, nil
}

func readZip(ctx context.Context, path string, fn func(rawRecord) error) error {
	if err := checkZipEntryCount(path); err != nil {
		return err
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("read zip %s: %w", path, err)
	}
	defer func() { _ = zr.Close() }()
	if len(zr.File) > MaxZipEntries {
		return fmt.Errorf("read zip %s: %d entries, more than the %d allowed", path, len(zr.File), MaxZipEntries)
	}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasSuffix(f.Name, "/") || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		data, err := readZipEntry(f)
		if err != nil {
			return fmt.Errorf("read zip %s: entry %s: %w", path, f.Name, err)
		}
		if err := fn(rawRecord{name: path + "!" + f.Name, data: data}); err != nil {
			return err
		}
	}
	return nil
}

// readZipEntry reads one entry, refusing one that declares or turns out
// larger than MaxRecordSize, or whose content is not the size it declares.
func readZipEntry(f *zip.File) ([]byte, error) {
	if f.UncompressedSize64 > MaxRecordSize {
		return nil, fmt.Errorf("declares %d bytes, more than the %d a record may have", f.UncompressedSize64, MaxRecordSize)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	// Read one byte past the declared size to see a lie: archive/zip
	// itself also fails a read past the declared size.
	data, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err != nil {
		return nil, fmt.Errorf("content does not match its header (declared %d bytes): %w", f.UncompressedSize64, err)
	}
	if uint64(len(data)) != f.UncompressedSize64 {
		return nil, fmt.Errorf("holds %d bytes, declares %d", len(data), f.UncompressedSize64)
	}
	return data, nil
}

// checkZipEntryCount reads the entry count from the zip's end-of-central-
// directory record (zip64 included) and refuses an archive with more than
// MaxZipEntries before archive/zip loads its whole directory into memory.
func checkZipEntryCount(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read zip %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read zip %s: %w", path, err)
	}
	const eocdLen, maxComment = 22, 65535
	size := st.Size()
	n := int64(eocdLen + maxComment)
	if n > size {
		n = size
	}
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, size-n); err != nil {
		return fmt.Errorf("read zip %s: %w", path, err)
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocdLen {
		return fmt.Errorf("read zip %s: %w", path, zip.ErrFormat)
	}
	count := uint64(binary.LittleEndian.Uint16(tail[i+10:]))
	if count == 0xFFFF && i >= 20 && string(tail[i-20:i-16]) == "PK\x06\x07" {
		// zip64: the locator before the record points at the zip64 record.
		off := int64(binary.LittleEndian.Uint64(tail[i-20+8:]))
		rec := make([]byte, 56)
		if off < 0 || off+56 > size {
			return fmt.Errorf("read zip %s: %w", path, zip.ErrFormat)
		}
		if _, err := f.ReadAt(rec, off); err != nil {
			return fmt.Errorf("read zip %s: %w", path, err)
		}
		if string(rec[:4]) != "PK\x06\x06" {
			return fmt.Errorf("read zip %s: %w", path, zip.ErrFormat)
		}
		count = binary.LittleEndian.Uint64(rec[32:])
	}
	if count > MaxZipEntries {
		return fmt.Errorf("read zip %s: %d entries, more than the %d allowed", path, count, MaxZipEntries)
	}
	return nil
}

// record is a parsed OSV record reduced to what the store indexes.
type record struct {
	name      string // source, for errors
	id        string
	modified  time.Time
	withdrawn bool
	data      []byte
	keys      []indexKey // distinct (ecosystem, normalised name)
	families  []string   // distinct families of keys, sorted
}

// indexKey is one (ecosystem, name) a record is found under.
type indexKey struct {
	ecosystem, name string
}

// InvalidRecordError is a record that is not valid OSV JSON.
type InvalidRecordError struct {
	Name string // the file or zip entry
	Err  error
}

func (e *InvalidRecordError) Error() string {
	return fmt.Sprintf("OSV record %s: %v", e.Name, e.Err)
}

func (e *InvalidRecordError) Unwrap() error { return e.Err }

// parseRecord parses raw exactly as queries will (protojson, unknown
// fields ignored), so a record that imports can be read back.
func parseRecord(raw rawRecord) (*record, error) {
	v, err := unmarshal(raw.data)
	if err != nil {
		return nil, &InvalidRecordError{Name: raw.name, Err: err}
	}
	if v.GetId() == "" {
		return nil, &InvalidRecordError{Name: raw.name, Err: errors.New("no id")}
	}
	r := &record{
		name:      raw.name,
		id:        v.GetId(),
		withdrawn: v.GetWithdrawn() != nil,
		data:      raw.data,
	}
	if m := v.GetModified(); m != nil {
		r.modified = m.AsTime()
	}
	seen := map[indexKey]bool{}
	fams := map[string]bool{}
	for _, a := range v.GetAffected() {
		p := a.GetPackage()
		if p.GetEcosystem() == "" || p.GetName() == "" {
			continue
		}
		k := indexKey{p.GetEcosystem(), NormalizeName(p.GetEcosystem(), p.GetName())}
		if !seen[k] {
			seen[k] = true
			r.keys = append(r.keys, k)
		}
		fams[Family(k.ecosystem)] = true
	}
	for f := range fams {
		r.families = append(r.families, f)
	}
	sort.Strings(r.families)
	return r, nil
}

func unmarshal(data []byte) (*osvschema.Vulnerability, error) {
	v := &osvschema.Vulnerability{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, v); err != nil {
		return nil, err
	}
	return v, nil
}
