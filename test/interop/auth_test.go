package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/cssc-project/cssc/internal/server/servertest"
)

// startSecured starts an initialised server and creates a user with push
// on team/**; it returns the server and that user's secret.
func startSecured(t *testing.T) (*servertest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	servertest.Init(t, dir)
	srv := servertest.Start(t, servertest.Config(dir))
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		remote.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	body, _ := json.Marshal(map[string]any{"name": "dev", "kind": "user",
		"grants": []map[string]string{{"role": "push", "scope": "team/**"}}})
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/users", bytes.NewReader(body))
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user: %s %v", resp.Status, err)
	}
	return srv, out["secret"]
}

func transportStatus(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// TestGGCRTokenFlow pushes and pulls with go-containerregistry's authn,
// which follows the 401 challenge to /token like crane and ko do.
func TestGGCRTokenFlow(t *testing.T) {
	srv, secret := startSecured(t)
	dev := remote.WithAuth(&authn.Basic{Username: "dev", Password: secret})
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref := parseRef(t, srv, "team/app:v1")
	if err := remote.Write(ref, img, dev); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	got, err := remote.Image(ref, dev)
	if err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	compareImages(t, img, got)

	if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: "dev", Password: "wrong-password"})); transportStatus(err) != http.StatusUnauthorized {
		t.Errorf("pull with a wrong password: %v, want 401", err)
	}
	if _, err := remote.Image(ref); transportStatus(err) != http.StatusUnauthorized {
		t.Errorf("anonymous pull: %v, want 401", err)
	}

	qref := parseRef(t, srv, "quarantine/app:v1")
	if err := remote.Write(qref, img, admin); err != nil {
		t.Fatalf("admin push to quarantine: %v", err)
	}
	_, err = remote.Image(qref, dev)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || len(te.Errors) == 0 || te.Errors[0].Code != transport.DeniedErrorCode {
		t.Errorf("quarantine pull by a normal user: %v, want 403 DENIED", err)
	}
	if err := remote.Write(parseRef(t, srv, "golden/app:v1"), img, dev); transportStatus(err) != http.StatusForbidden {
		t.Errorf("golden push by a normal user: %v, want 403", err)
	}
	// Admins may write golden/ directly (break glass, audited).
	if err := remote.Write(parseRef(t, srv, "golden/app:v1"), img, admin); err != nil {
		t.Errorf("golden push by an admin: %v", err)
	}
}

// TestORASTokenFlow does the same with oras-go's auth client (oras,
// notation and others are built on it).
func TestORASTokenFlow(t *testing.T) {
	srv, secret := startSecured(t)
	ctx := context.Background()
	repo := func(name, user, pass string) *orasremote.Repository {
		r, err := orasremote.NewRepository(srv.Host + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		r.PlainHTTP = true
		r.Client = &orasauth.Client{
			Client:     http.DefaultClient,
			Cache:      orasauth.NewCache(),
			Credential: orasauth.StaticCredential(srv.Host, orasauth.Credential{Username: user, Password: pass}),
		}
		return r
	}
	src := memory.New()
	blob := []byte("artifact payload")
	layer := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	if err := src.Push(ctx, layer, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	root, err := oras.PackManifest(ctx, src, oras.PackManifestVersion1_1, "application/vnd.cssc.test", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, root, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, src, "v1", repo("team/artifact", "dev", secret), "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("oras push with credentials: %v", err)
	}
	dst := memory.New()
	if _, err := oras.Copy(ctx, repo("team/artifact", "dev", secret), "v1", dst, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("oras pull with credentials: %v", err)
	}
	if ok, _ := dst.Exists(ctx, layer); !ok {
		t.Error("pulled artifact lacks its layer")
	}
	_, err = oras.Copy(ctx, src, "v1", repo("team/artifact", "dev", "wrong-password"), "v2", oras.DefaultCopyOptions)
	var ec *errcode.ErrorResponse
	if !errors.As(err, &ec) || ec.StatusCode != http.StatusUnauthorized {
		t.Errorf("oras push with a wrong password: %v, want 401", err)
	}
	if _, err := oras.Copy(ctx, src, "v1", repo("quarantine/artifact", "admin", servertest.AdminPassword), "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("admin push to quarantine: %v", err)
	}
	_, err = oras.Copy(ctx, repo("quarantine/artifact", "dev", secret), "v1", memory.New(), "v1", oras.DefaultCopyOptions)
	if !errors.As(err, &ec) || ec.StatusCode != http.StatusForbidden || len(ec.Errors) == 0 || ec.Errors[0].Code != errcode.ErrorCodeDenied {
		t.Errorf("oras quarantine pull by a normal user: %v, want 403 DENIED", err)
	}
}
