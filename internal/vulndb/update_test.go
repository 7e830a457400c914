package vulndb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// export is what the test mirror serves at one path.
type export struct {
	body          []byte
	etag, lastMod string
	status        int  // when not 0, answer only this status
	cut           bool // declare the full length, send half, drop the connection
}

// request is what the mirror saw.
type request struct {
	uri, ifNoneMatch, ifModifiedSince string
}

// testMirror is an osv.dev-like bucket on 127.0.0.1.
type testMirror struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]export // by decoded path
	seen  []request
}

func newTestMirror(t *testing.T) *testMirror {
	m := &testMirror{files: map[string]export{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *testMirror) set(path string, e export) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[path] = e
}

func (m *testMirror) requests() []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.seen
	m.seen = nil
	return out
}

func (m *testMirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.seen = append(m.seen, request{r.RequestURI, r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")})
	e, ok := m.files[r.URL.Path]
	m.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
		return
	case e.status != 0:
		w.WriteHeader(e.status)
		return
	case e.etag != "" && r.Header.Get("If-None-Match") == e.etag,
		e.etag == "" && e.lastMod != "" && r.Header.Get("If-Modified-Since") == e.lastMod:
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if e.etag != "" {
		w.Header().Set("ETag", e.etag)
	}
	if e.lastMod != "" {
		w.Header().Set("Last-Modified", e.lastMod)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(e.body)))
	if e.cut {
		_, _ = w.Write(e.body[:len(e.body)/2])
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		return
	}
	_, _ = w.Write(e.body)
}

// clock is a test clock that moves one minute per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

func TestUpdate(t *testing.T) {
	m := newTestMirror(t)
	debianV1 := []rec{
		{id: "DSA-1", modified: "2024-03-01T00:00:00Z", affected: [][2]string{{"Debian:12", "openssl"}}},
		// Not Debian: an export may hold it, it is not stored as Debian data.
		{id: "OTHER-1", modified: "2024-03-01T00:00:00Z", affected: [][2]string{{"Ubuntu:22.04:LTS", "openssl"}}},
	}
	debianV2 := []rec{{id: "DSA-2", modified: "2024-04-01T00:00:00Z", affected: [][2]string{{"Debian:12", "openssl"}}}}
	goV1 := []rec{{id: "GO-1", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"Go", "example.com/m"}}}}
	goV2 := []rec{{id: "GO-2", modified: "2024-02-01T00:00:00Z", affected: [][2]string{{"Go", "example.com/m"}}}}
	rhV1 := []rec{{id: "RHSA-1", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"Red Hat:enterprise_linux:9::baseos", "openssl"}}}}
	const lm1 = "Mon, 01 Jan 2024 00:00:00 GMT"
	m.set("/Debian/all.zip", export{body: recordsZip(t, debianV1), etag: `"d1"`, lastMod: lm1})
	m.set("/Go/all.zip", export{body: recordsZip(t, goV1), lastMod: lm1}) // Last-Modified only
	m.set("/Red Hat/all.zip", export{body: recordsZip(t, rhV1), etag: `"r1"`})

	dir := t.TempDir()
	clk := &clock{t: fixedNow}
	ctx := context.Background()
	update := func(ecos ...string) ([]UpdateResult, error) {
		return Update(ctx, dir, UpdateOptions{Mirror: m.URL + "/", Ecosystems: ecos, Now: clk.now})
	}
	states := func(rs []UpdateResult) string {
		var s []string
		for _, r := range rs {
			e := ""
			if r.Err != nil {
				e = ": " + r.Err.Error()
			}
			s = append(s, r.Ecosystem+" "+string(r.State)+" "+strconv.Itoa(r.Records)+e)
		}
		return strings.Join(s, "; ")
	}
	query := func(eco, name string) []string {
		db := mustOpen(t, dir)
		defer func() { _ = db.Close() }()
		return ids(t, db, eco, name)
	}

	// 1. First update: everything downloaded and imported.
	rs, err := update("Debian", "Go", "Red Hat")
	if err != nil {
		t.Fatalf("first update: %v (%s)", err, states(rs))
	}
	if got, want := states(rs), "Debian updated 1; Go updated 1; Red Hat updated 1"; got != want {
		t.Fatalf("first update: %s, want %s", got, want)
	}
	wantReqs := []request{{uri: "/Debian/all.zip"}, {uri: "/Go/all.zip"}, {uri: "/Red%20Hat/all.zip"}}
	if got := m.requests(); !reflect.DeepEqual(got, wantReqs) {
		t.Fatalf("first update requests %+v, want %+v", got, wantReqs)
	}
	if got := query("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"DSA-1"}) {
		t.Fatalf("Debian after the first update: %v", got)
	}
	if got := query("Red Hat:enterprise_linux:9::baseos", "openssl"); !reflect.DeepEqual(got, []string{"RHSA-1"}) {
		t.Fatalf("Red Hat after the first update: %v", got)
	}
	db := mustOpen(t, dir)
	if db.Coverage("Ubuntu:22.04:LTS").Imported {
		t.Error("a record of another family in the Debian export made Ubuntu imported")
	}
	st, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t1 := fixedNow.Add(time.Minute) // the update's clock reading
	wantSt := []FamilyStatus{
		{Family: "Debian", Records: 1, Source: m.URL + "/Debian/all.zip", ETag: `"d1"`, LastModified: lm1,
			ImportedAt: t1, CheckedAt: t1, Newest: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{Family: "Go", Records: 1, Source: m.URL + "/Go/all.zip", LastModified: lm1,
			ImportedAt: t1, CheckedAt: t1, Newest: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Family: "Red Hat", Records: 1, Source: m.URL + "/Red%20Hat/all.zip", ETag: `"r1"`,
			ImportedAt: t1, CheckedAt: t1, Newest: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(st, wantSt) {
		t.Fatalf("status after the first update:\n got %+v\nwant %+v", st, wantSt)
	}

	// 2. Nothing changed upstream: conditional requests, 304s, the
	// database file untouched, only the check time moves.
	rs, err = update("Debian", "Go")
	if err != nil || states(rs) != "Debian not modified 0; Go not modified 0" {
		t.Fatalf("second update: %v (%s)", err, states(rs))
	}
	wantReqs = []request{
		{uri: "/Debian/all.zip", ifNoneMatch: `"d1"`, ifModifiedSince: lm1},
		{uri: "/Go/all.zip", ifModifiedSince: lm1},
	}
	if got := m.requests(); !reflect.DeepEqual(got, wantReqs) {
		t.Fatalf("second update requests %+v, want %+v", got, wantReqs)
	}
	if db.Superseded() {
		t.Fatal("a 304 must not rewrite the database")
	}
	st, err = db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st[0].CheckedAt; !got.Equal(fixedNow.Add(2 * time.Minute)) {
		t.Errorf("Debian checked at %v after the 304", got)
	}
	if got := st[2].CheckedAt; !got.Equal(t1) {
		t.Errorf("Red Hat was not checked again, but its time moved to %v", got)
	}

	// 3. Failed downloads: the body cut mid-way, a 500, a zip that is not
	// one, a record that does not parse. Each fails alone; the data stays.
	bad := []struct {
		name string
		e    export
		want string
	}{
		{"cut", export{body: recordsZip(t, debianV2), etag: `"d2"`, cut: true}, "unexpected EOF"},
		{"500", export{status: http.StatusInternalServerError}, "500 Internal Server Error"},
		{"not zip", export{body: []byte("<html>captive portal</html>"), etag: `"d2"`}, "not a valid zip file"},
		{"bad JSON", export{body: zipBytes(t, map[string][]byte{"DSA-2.json": debianV2[0].json(), "DSA-3.json": []byte(`{"id":`)}), etag: `"d2"`}, "DSA-3.json"},
		{"empty", export{body: zipBytes(t, map[string][]byte{}), etag: `"d2"`}, "holds no Debian records"},
	}
	for _, b := range bad {
		m.set("/Debian/all.zip", b.e)
		rs, err := update("Debian")
		if err == nil || len(rs) != 1 || rs[0].State != Failed || !strings.Contains(err.Error(), b.want) {
			t.Fatalf("%s: %v (%s), want a failure mentioning %q", b.name, err, states(rs), b.want)
		}
		if db.Superseded() {
			t.Fatalf("%s: the failed update replaced the database", b.name)
		}
		if got := query("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"DSA-1"}) {
			t.Fatalf("%s: Debian after the failed update: %v", b.name, got)
		}
		assertNoTempFiles(t, dir)
	}
	m.requests()

	// 4. One export bad, another changed: the good one goes in, the bad
	// one keeps its data.
	m.set("/Go/all.zip", export{body: recordsZip(t, goV2), etag: `"g2"`})
	m.set("/Debian/all.zip", bad[3].e) // bad JSON
	rs, err = update("Debian", "Go")
	if err == nil || !strings.Contains(err.Error(), "DSA-3.json") || rs[0].State != Failed ||
		rs[1].State != Updated || rs[1].Records != 1 {
		t.Fatalf("mixed update: %v (%s)", err, states(rs))
	}
	if got := query("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"DSA-1"}) {
		t.Errorf("Debian after the mixed update: %v", got)
	}
	if got := query("Go", "example.com/m"); !reflect.DeepEqual(got, []string{"GO-2"}) {
		t.Errorf("Go after the mixed update: %v", got)
	}
	if got := query("Red Hat:enterprise_linux:9::baseos", "openssl"); !reflect.DeepEqual(got, []string{"RHSA-1"}) {
		t.Errorf("Red Hat after the mixed update: %v", got)
	}

	// 5. A good new Debian export replaces the old.
	m.set("/Debian/all.zip", export{body: recordsZip(t, debianV2), etag: `"d2"`})
	m.requests()
	rs, err = update("Debian")
	if err != nil || states(rs) != "Debian updated 1" {
		t.Fatalf("last update: %v (%s)", err, states(rs))
	}
	if got := m.requests(); len(got) != 1 || got[0].ifNoneMatch != `"d1"` {
		t.Errorf("the request after failures must still carry the stored ETag: %+v", got)
	}
	if got := query("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"DSA-2"}) {
		t.Errorf("Debian after the last update: %v", got)
	}
}

func TestUpdateLimitsAndOptions(t *testing.T) {
	m := newTestMirror(t)
	body := recordsZip(t, fixture[4:5])
	m.set("/Go/all.zip", export{body: body})
	dir := t.TempDir()
	ctx := context.Background()

	_, err := Update(ctx, dir, UpdateOptions{Mirror: m.URL, Ecosystems: []string{"Go"}, MaxDownload: int64(len(body) - 1)})
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("over the size cap: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused download created a database: %v", err)
	}
	assertNoTempFiles(t, dir)

	tests := []struct {
		opts UpdateOptions
		want string
	}{
		{UpdateOptions{Mirror: "ftp://example.com", Ecosystems: []string{"Go"}}, "not an http(s) URL"},
		{UpdateOptions{Mirror: m.URL, Ecosystems: []string{"Debian:12"}}, "not an ecosystem family"},
		{UpdateOptions{Mirror: m.URL, Ecosystems: []string{"Nope"}}, "404 Not Found"},
	}
	for _, tc := range tests {
		if _, err := Update(ctx, dir, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	rs, err := Update(ctx, dir, UpdateOptions{Mirror: m.URL, Ecosystems: []string{"Go", " Go", ""}})
	if err != nil || len(rs) != 1 || rs[0].State != Updated {
		t.Fatalf("duplicate names: %v %+v", err, rs)
	}
}
