package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/store"
)

func open(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dg(s string) string { return digest.FromString(s).String() }

// image links a config and a layer into repo and returns a manifest using them.
func image(t *testing.T, s *store.Store, repo, name string) store.Manifest {
	t.Helper()
	ctx := context.Background()
	cfg, layer := dg(name+"-config"), dg(name+"-layer")
	if err := s.LinkBlob(ctx, repo, cfg, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, repo, layer, 20); err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"name":"` + name + `"}`)
	return store.Manifest{
		Repository:   repo,
		Digest:       digest.FromBytes(content).String(),
		MediaType:    "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json",
		Content:      content,
		Blobs:        []store.Reference{{Digest: cfg, Size: 10}, {Digest: layer, Size: 20}},
	}
}

func put(t *testing.T, s *store.Store, m store.Manifest, tags ...string) {
	t.Helper()
	if err := s.PutManifest(context.Background(), m, tags); err != nil {
		t.Fatalf("put %s: %v", m.Digest, err)
	}
}

func TestOpenTwiceMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := image(t, s, "team/app", "a")
	put(t, s, m, "v1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s, err = store.OpenSQLite(ctx, path, store.Options{})
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		got, err := s.GetTaggedManifest(ctx, "team/app", "v1")
		if err != nil || got.Digest != m.Digest {
			t.Fatalf("reopen %d: tag v1 = %+v, %v", i, got, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A read-only open sees the same data.
	ro, err := store.OpenSQLite(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	if got, err := ro.GetManifest(ctx, "team/app", m.Digest); err != nil || string(got.Content) != string(m.Content) {
		t.Fatalf("read-only get = %+v, %v", got, err)
	}
	if err := ro.LinkBlob(ctx, "team/app", dg("new"), 1); err == nil {
		t.Fatal("read-only store accepted a write")
	}
}

func TestPutManifestMissingReferences(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	base := image(t, s, "r", "base")
	put(t, s, base, "keep")

	tests := []struct {
		name     string
		mutate   func(m *store.Manifest)
		kind     string
		wantSize int64 // -1: missing
	}{
		{"missing blob", func(m *store.Manifest) {
			m.Blobs = append(m.Blobs, store.Reference{Digest: dg("absent"), Size: 3})
		}, "blob", -1},
		{"wrong blob size", func(m *store.Manifest) {
			m.Blobs[1].Size = 21
		}, "blob", 21},
		{"missing child manifest", func(m *store.Manifest) {
			m.Blobs = nil
			m.MediaType = "application/vnd.oci.image.index.v1+json"
			m.Manifests = []store.Reference{{Digest: base.Digest, Size: int64(len(base.Content))}, {Digest: dg("no-child"), Size: 5}}
		}, "manifest", -1},
		{"wrong child manifest size", func(m *store.Manifest) {
			m.Blobs = nil
			m.Manifests = []store.Reference{{Digest: base.Digest, Size: int64(len(base.Content)) + 1}}
		}, "manifest", int64(len(base.Content)) + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := image(t, s, "r", "x-"+tc.name)
			m.Content = []byte(tc.name)
			m.Digest = digest.FromBytes(m.Content).String()
			m.Subject = base.Digest
			tc.mutate(&m)
			err := s.PutManifest(ctx, m, []string{"keep", "new-" + strings.ReplaceAll(tc.name, " ", "-")})
			var missing *store.MissingReferenceError
			if !errors.As(err, &missing) {
				t.Fatalf("err = %v, want *MissingReferenceError", err)
			}
			if missing.Kind != tc.kind || missing.WantSize != tc.wantSize {
				t.Fatalf("err = %+v, want kind %s wantSize %d", missing, tc.kind, tc.wantSize)
			}
			if missing.Error() == "" {
				t.Fatal("empty message")
			}
			// Nothing changed: manifest absent, tags untouched, no referrer.
			if _, err := s.GetManifest(ctx, "r", m.Digest); !errors.Is(err, store.ErrManifestUnknown) {
				t.Fatalf("manifest stored anyway: %v", err)
			}
			if got, err := s.GetTaggedManifest(ctx, "r", "keep"); err != nil || got.Digest != base.Digest {
				t.Fatalf("tag keep moved: %+v, %v", got, err)
			}
			tags, _, err := s.ListTags(ctx, "r", "", -1)
			if err != nil || !reflect.DeepEqual(tags, []string{"keep"}) {
				t.Fatalf("tags = %v, %v", tags, err)
			}
			refs, err := s.Referrers(ctx, "r", base.Digest, "")
			if err != nil || len(refs) != 0 {
				t.Fatalf("referrers = %v, %v", refs, err)
			}
		})
	}
	// A repository that never got anything cannot satisfy references either,
	// and the failed put leaves it out of the catalog.
	m := image(t, s, "other", "y")
	m.Repository = "fresh"
	var missing *store.MissingReferenceError
	if err := s.PutManifest(ctx, m, nil); !errors.As(err, &missing) {
		t.Fatalf("put in fresh repo: %v", err)
	}
	repos, _, err := s.ListRepositories(ctx, "", -1)
	if err != nil || !reflect.DeepEqual(repos, []string{"r"}) {
		t.Fatalf("repositories = %v, %v", repos, err)
	}
}

func TestTagsMoveAndDelete(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	put(t, s, a, "latest", "v1")
	put(t, s, b, "latest")
	if got, _ := s.GetTaggedManifest(ctx, "r", "latest"); got.Digest != b.Digest {
		t.Fatalf("latest = %s, want %s", got.Digest, b.Digest)
	}
	if got, _ := s.GetTaggedManifest(ctx, "r", "v1"); got.Digest != a.Digest {
		t.Fatalf("v1 = %s, want %s", got.Digest, a.Digest)
	}
	// Putting the same manifest again only moves tags.
	put(t, s, a, "latest")
	if got, _ := s.GetTaggedManifest(ctx, "r", "latest"); got.Digest != a.Digest || got.MediaType != a.MediaType || string(got.Content) != string(a.Content) {
		t.Fatalf("latest = %+v", got)
	}
	// DeleteManifest takes its tags with it.
	if err := s.DeleteManifest(ctx, "r", a.Digest); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"latest", "v1"} {
		if _, err := s.GetTaggedManifest(ctx, "r", tag); !errors.Is(err, store.ErrManifestUnknown) {
			t.Fatalf("tag %s after delete: %v", tag, err)
		}
	}
	tags, _, err := s.ListTags(ctx, "r", "", -1)
	if err != nil || len(tags) != 0 {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	if err := s.DeleteManifest(ctx, "r", a.Digest); !errors.Is(err, store.ErrManifestUnknown) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.DeleteManifest(ctx, "nope", a.Digest); !errors.Is(err, store.ErrManifestUnknown) {
		t.Fatalf("delete in unknown repo: %v", err)
	}
	// DeleteTag keeps the manifest.
	put(t, s, b, "x")
	if err := s.DeleteTag(ctx, "r", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetManifest(ctx, "r", b.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag(ctx, "r", "x"); !errors.Is(err, store.ErrManifestUnknown) {
		t.Fatalf("delete missing tag: %v", err)
	}
}

func TestDeleteReferencedManifestAndBlob(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	child := image(t, s, "r", "child")
	put(t, s, child)
	idxContent := []byte("index")
	idx := store.Manifest{
		Repository: "r",
		Digest:     digest.FromBytes(idxContent).String(),
		MediaType:  "application/vnd.oci.image.index.v1+json",
		Content:    idxContent,
		Manifests:  []store.Reference{{Digest: child.Digest, Size: int64(len(child.Content))}},
	}
	put(t, s, idx, "multi")
	if err := s.DeleteManifest(ctx, "r", child.Digest); !errors.Is(err, store.ErrManifestReferenced) {
		t.Fatalf("delete child: %v, want ErrManifestReferenced", err)
	}
	if _, err := s.GetManifest(ctx, "r", child.Digest); err != nil {
		t.Fatalf("child gone: %v", err)
	}
	layer := child.Blobs[1].Digest
	if err := s.UnlinkBlob(ctx, "r", layer); !errors.Is(err, store.ErrBlobReferenced) {
		t.Fatalf("unlink used blob: %v, want ErrBlobReferenced", err)
	}
	if size, err := s.BlobSize(ctx, "r", layer); err != nil || size != 20 {
		t.Fatalf("blob size = %d, %v", size, err)
	}
	// Delete the index, then the child, then the blob can go.
	if err := s.DeleteManifest(ctx, "r", idx.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteManifest(ctx, "r", child.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkBlob(ctx, "r", layer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BlobSize(ctx, "r", layer); !errors.Is(err, store.ErrBlobUnknown) {
		t.Fatalf("blob after unlink: %v", err)
	}
	if err := s.UnlinkBlob(ctx, "r", layer); !errors.Is(err, store.ErrBlobUnknown) {
		t.Fatalf("second unlink: %v", err)
	}
	if err := s.UnlinkBlob(ctx, "nope", layer); !errors.Is(err, store.ErrBlobUnknown) {
		t.Fatalf("unlink in unknown repo: %v", err)
	}
	// A blob used in one repository can be unlinked from another.
	if err := s.LinkBlob(ctx, "a", dg("shared"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "b", dg("shared"), 1); err != nil {
		t.Fatal(err)
	}
	m := store.Manifest{Repository: "a", Digest: dg("m"), MediaType: "x", Content: []byte("m"),
		Blobs: []store.Reference{{Digest: dg("shared"), Size: 1}}}
	put(t, s, m)
	if err := s.UnlinkBlob(ctx, "b", dg("shared")); err != nil {
		t.Fatalf("unlink from the repo that does not use it: %v", err)
	}
	if n, err := s.LinkCount(ctx, dg("shared")); err != nil || n != 1 {
		t.Fatalf("link count = %d, %v", n, err)
	}
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	m := image(t, s, "r", "a")
	tags := []string{"a", "b", "c", "d", "e"}
	put(t, s, m, tags...)
	for _, repo := range []string{"z", "x/y", "m"} {
		mm := image(t, s, repo, repo)
		put(t, s, mm)
	}
	// A repository with only blobs is not in the catalog.
	if err := s.LinkBlob(ctx, "blobsonly", dg("b"), 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		last     string
		n        int
		want     []string
		wantMore bool
	}{
		{"", -1, tags, false},
		{"", 0, []string{}, true},
		{"", 2, []string{"a", "b"}, true},
		{"b", 2, []string{"c", "d"}, true},
		{"d", 2, []string{"e"}, false},
		{"c", 2, []string{"d", "e"}, false},
		{"e", 2, []string{}, false},
		{"", 5, tags, false},
		{"", 6, tags, false},
		{"bb", -1, []string{"c", "d", "e"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("tags last=%q n=%d", tc.last, tc.n), func(t *testing.T) {
			got, more, err := s.ListTags(ctx, "r", tc.last, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || more != tc.wantMore {
				t.Fatalf("got %v more=%v, want %v more=%v", got, more, tc.want, tc.wantMore)
			}
		})
	}
	if _, _, err := s.ListTags(ctx, "unknown", "", -1); !errors.Is(err, store.ErrRepositoryUnknown) {
		t.Fatalf("tags of unknown repo: %v", err)
	}
	repoTests := []struct {
		last     string
		n        int
		want     []string
		wantMore bool
	}{
		{"", -1, []string{"m", "r", "x/y", "z"}, false},
		{"", 2, []string{"m", "r"}, true},
		{"r", 2, []string{"x/y", "z"}, false},
		{"x/y", 1, []string{"z"}, false},
		{"m", 1, []string{"r"}, true},
	}
	for _, tc := range repoTests {
		t.Run(fmt.Sprintf("repos last=%q n=%d", tc.last, tc.n), func(t *testing.T) {
			got, more, err := s.ListRepositories(ctx, tc.last, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || more != tc.wantMore {
				t.Fatalf("got %v more=%v, want %v more=%v", got, more, tc.want, tc.wantMore)
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	subject := dg("subject-not-stored")
	var want []string
	for i, at := range []string{"application/sbom", "application/sig", "application/sbom"} {
		m := image(t, s, "r", fmt.Sprint("ref", i))
		m.ArtifactType = at
		m.Subject = subject
		if i == 0 {
			m.Annotations = map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
		}
		put(t, s, m)
		want = append(want, m.Digest)
	}
	unrelated := image(t, s, "r", "unrelated")
	put(t, s, unrelated)
	// Same subject in another repository does not leak.
	other := image(t, s, "other", "o")
	other.Subject = subject
	put(t, s, other)

	all, err := s.Referrers(ctx, "r", subject, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("referrers = %+v", all)
	}
	got := map[string]store.Referrer{}
	for _, r := range all {
		got[r.Digest] = r
		if r.MediaType == "" || r.Size <= 0 {
			t.Errorf("referrer %+v lacks media type or size", r)
		}
	}
	for _, d := range want {
		if _, ok := got[d]; !ok {
			t.Errorf("referrer %s missing", d)
		}
	}
	if got[want[0]].Annotations["org.opencontainers.image.created"] != "2024-01-01T00:00:00Z" {
		t.Errorf("annotations lost: %+v", got[want[0]])
	}
	sboms, err := s.Referrers(ctx, "r", subject, "application/sbom")
	if err != nil {
		t.Fatal(err)
	}
	if len(sboms) != 2 {
		t.Fatalf("sbom referrers = %+v", sboms)
	}
	for _, r := range sboms {
		if r.ArtifactType != "application/sbom" {
			t.Fatalf("filter leaked %+v", r)
		}
	}
	none, err := s.Referrers(ctx, "r", dg("nothing refers to me"), "")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("referrers of unknown subject = %#v, %v (want empty, non-nil)", none, err)
	}
	none, err = s.Referrers(ctx, "r", subject, "application/none")
	if err != nil || len(none) != 0 {
		t.Fatalf("filtered to nothing = %#v, %v", none, err)
	}
}

func TestUploads(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.CreateUpload(ctx, "r", "u1"); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUpload(ctx, "r", "u1")
	if err != nil || u.Size != 0 || u.HashState != nil {
		t.Fatalf("new upload = %+v, %v", u, err)
	}
	if _, err := s.GetUpload(ctx, "other", "u1"); !errors.Is(err, store.ErrUploadUnknown) {
		t.Fatalf("upload from another repo: %v", err)
	}
	if err := s.AdvanceUpload(ctx, "u1", 0, 5, []byte("state5")); err != nil {
		t.Fatal(err)
	}
	// A second writer that saw size 0 loses.
	if err := s.AdvanceUpload(ctx, "u1", 0, 3, []byte("state3")); !errors.Is(err, store.ErrUploadConflict) {
		t.Fatalf("stale advance: %v, want ErrUploadConflict", err)
	}
	if err := s.AdvanceUpload(ctx, "missing", 0, 3, nil); !errors.Is(err, store.ErrUploadConflict) {
		t.Fatalf("advance unknown: %v, want ErrUploadConflict", err)
	}
	u, err = s.GetUpload(ctx, "r", "u1")
	if err != nil || u.Size != 5 || string(u.HashState) != "state5" {
		t.Fatalf("upload = %+v, %v", u, err)
	}
	if ok, err := s.UploadExists(ctx, "u1"); !ok || err != nil {
		t.Fatalf("exists = %v, %v", ok, err)
	}
	stale, err := s.StaleUploads(ctx, time.Now().Add(time.Hour))
	if err != nil || len(stale) != 1 || stale[0].ID != "u1" || stale[0].Repository != "r" || stale[0].Size != 5 {
		t.Fatalf("stale = %+v, %v", stale, err)
	}
	if stale, _ := s.StaleUploads(ctx, time.Now().Add(-time.Hour)); len(stale) != 0 {
		t.Fatalf("fresh upload reported stale: %+v", stale)
	}
	if err := s.DeleteUpload(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UploadExists(ctx, "u1"); ok {
		t.Fatal("upload exists after delete")
	}
	if _, err := s.GetUpload(ctx, "r", "u1"); !errors.Is(err, store.ErrUploadUnknown) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestDeleteUnreferencedLinks(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	used := image(t, s, "r", "used")
	put(t, s, used)
	if err := s.LinkBlob(ctx, "r", dg("old orphan"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "q", dg("old orphan"), 7); err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	if err := s.LinkBlob(ctx, "r", dg("young orphan"), 9); err != nil {
		t.Fatal(err)
	}

	// Cut-off before everything: nothing qualifies.
	if links, err := s.DeleteUnreferencedLinks(ctx, mid.Add(-time.Hour), false); err != nil || len(links) != 0 {
		t.Fatalf("early cut-off = %+v, %v", links, err)
	}
	// Dry run lists the old orphans and removes nothing.
	links, err := s.DeleteUnreferencedLinks(ctx, mid, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Link{{Repository: "q", Digest: dg("old orphan"), Size: 7}, {Repository: "r", Digest: dg("old orphan"), Size: 7}}
	if !reflect.DeepEqual(links, want) {
		t.Fatalf("dry run = %+v, want %+v", links, want)
	}
	if n, _ := s.LinkCount(ctx, dg("old orphan")); n != 2 {
		t.Fatalf("dry run removed links: count %d", n)
	}
	// For real: the old orphans go, the young one and used blobs stay.
	links, err = s.DeleteUnreferencedLinks(ctx, mid, false)
	if err != nil || !reflect.DeepEqual(links, want) {
		t.Fatalf("delete = %+v, %v", links, err)
	}
	if n, _ := s.LinkCount(ctx, dg("old orphan")); n != 0 {
		t.Fatalf("old orphan still linked %d times", n)
	}
	if _, err := s.BlobSize(ctx, "r", dg("young orphan")); err != nil {
		t.Fatalf("young orphan removed: %v", err)
	}
	for _, b := range used.Blobs {
		if _, err := s.BlobSize(ctx, "r", b.Digest); err != nil {
			t.Fatalf("used blob %s removed: %v", b.Digest, err)
		}
	}
	// With a late cut-off the young one goes too, used ones never.
	links, err = s.DeleteUnreferencedLinks(ctx, time.Now().Add(time.Hour), false)
	if err != nil || len(links) != 1 || links[0].Digest != dg("young orphan") {
		t.Fatalf("late cut-off = %+v, %v", links, err)
	}
	for _, b := range used.Blobs {
		if _, err := s.BlobSize(ctx, "r", b.Digest); err != nil {
			t.Fatalf("used blob %s removed: %v", b.Digest, err)
		}
	}
	// Relinking refreshes the time, protecting a blob being re-pushed.
	if err := s.LinkBlob(ctx, "r", dg("relinked"), 1); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := s.LinkBlob(ctx, "r", dg("relinked"), 1); err != nil {
		t.Fatal(err)
	}
	if links, _ := s.DeleteUnreferencedLinks(ctx, cut, false); len(links) != 0 {
		t.Fatalf("relinked blob collected: %+v", links)
	}
}

func TestStoredBytesAndRepositoriesWithBlob(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, repo := range []string{"b", "a", "c"} {
		if err := s.LinkBlob(ctx, repo, dg("shared"), 100); err != nil {
			t.Fatal(err)
		}
	}
	repos, err := s.RepositoriesWithBlob(ctx, dg("shared"), 2)
	if err != nil || !reflect.DeepEqual(repos, []string{"a", "b"}) {
		t.Fatalf("repos = %v, %v", repos, err)
	}
	n, err := s.StoredBytes(ctx)
	if err != nil || n != 100 {
		t.Fatalf("stored bytes = %d, %v (a blob in three repos counts once)", n, err)
	}
}
