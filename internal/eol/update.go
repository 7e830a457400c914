package eol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the refreshed table's name in the database directory.
const FileName = "eol.json"

// maxTableSize caps a downloaded table.
const maxTableSize = 4 << 20

// Load returns the table to use with the database in dir: the one a
// refresh stored there when it is newer than the embedded one, else the
// embedded one. A stored table that does not parse is an error.
func Load(dir string) (*Table, error) {
	emb := Embedded()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return emb, nil
	}
	if err != nil {
		return nil, fmt.Errorf("end-of-life table: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	if t.Updated.After(emb.Updated) {
		return t, nil
	}
	return emb, nil
}

// UpdateResult says what Update did.
type UpdateResult struct {
	// Provided is false when the mirror has no table (a 404).
	Provided bool
	// Stored is true when the mirror's table was newer than the one in
	// use and now replaces it.
	Stored bool
	// Table is the table in use after the update.
	Table *Table
}

// Update fetches <mirror>/eol.json and stores it in dir when it parses and
// is newer than the table in use. A mirror without one (404) is not an
// error: the table in use stays.
func Update(ctx context.Context, dir, mirror string, client *http.Client) (UpdateResult, error) {
	var res UpdateResult
	cur, err := Load(dir)
	if err != nil {
		cur = Embedded() // a broken stored table is replaced by a good one
	}
	res.Table = cur
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimRight(mirror, "/") + "/" + FileName
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return res, fmt.Errorf("end-of-life table: GET %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, fmt.Errorf("end-of-life table: GET %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return res, nil
	default:
		return res, fmt.Errorf("end-of-life table: GET %s: %s", u, resp.Status)
	}
	res.Provided = true
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTableSize+1))
	if err != nil {
		return res, fmt.Errorf("end-of-life table: GET %s: %w", u, err)
	}
	if len(b) > maxTableSize {
		return res, fmt.Errorf("end-of-life table: GET %s: more than %d bytes", u, maxTableSize)
	}
	t, err := Parse(b)
	if err != nil {
		return res, fmt.Errorf("%s: %w", u, err)
	}
	if !t.Updated.After(cur.Updated) {
		return res, nil
	}
	if err := writeAtomic(dir, FileName, b); err != nil {
		return res, fmt.Errorf("end-of-life table: %w", err)
	}
	res.Stored, res.Table = true, t
	return res, nil
}

func writeAtomic(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".eol-"+name+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
