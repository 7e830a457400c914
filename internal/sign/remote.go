package sign

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// RemoteOptions say how a registry is reached.
type RemoteOptions struct {
	// Insecure reaches any registry over plain HTTP; localhost and
	// 127.0.0.1 use plain HTTP anyway, as cssc scan does.
	Insecure bool
	// UserAgent is sent with every request.
	UserAgent string
	// Credential returns the credential for a registry host; nil reads the
	// docker credential configuration (~/.docker/config.json and its
	// helpers).
	Credential auth.CredentialFunc
	// HTTPClient is the client to use; nil means a retrying default.
	HTTPClient *http.Client
}

// Target is an artifact in a registry, resolved to its digest.
type Target struct {
	// Ref is the reference as given; Name is "host/repository".
	Ref  string
	Name string
	// Repo reaches the repository (and, through the referrers API or its
	// tag schema, the artifacts attached to Desc).
	Repo *remote.Repository
	// Desc is the manifest's descriptor: digest, size and media type (and
	// the artifact type for artifact manifests).
	Desc ocispec.Descriptor
}

// DigestRef is the target as host/repository@digest.
func (t *Target) DigestRef() string { return t.Name + "@" + t.Desc.Digest.String() }

// Resolve parses ref (host/repo:tag or host/repo@digest) and resolves it to
// its manifest digest. A tag is resolved once, here: signing and
// verification use the digest from then on.
func Resolve(ctx context.Context, ref string, opts RemoteOptions) (*Target, error) {
	repo, err := Repository(ref, opts)
	if err != nil {
		return nil, err
	}
	r := repo.Reference
	if r.Reference == "" {
		return nil, fmt.Errorf("resolve %s: no tag or digest (want host/repo:tag or host/repo@sha256:…)", ref)
	}
	desc, err := repo.Resolve(ctx, r.Reference)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return &Target{Ref: ref, Name: r.Registry + "/" + r.Repository, Repo: repo, Desc: desc}, nil
}

// Bounds on what a registry can make a verification read: pages of a
// referrers or tag listing (each up to the registry's page size), and the
// time of one request (a registry that stops answering is an error, not a
// verification that never ends).
const (
	maxListPages   = 50
	requestTimeout = 2 * time.Minute
)

// Repository returns a client for the repository ref names, with the
// reference (tag or digest, possibly empty) kept in its Reference. Short
// names are completed as docker does: "alpine:3" is
// docker.io/library/alpine:3.
func Repository(ref string, opts RemoteOptions) (*remote.Repository, error) {
	if strings.Contains(ref, "://") {
		return nil, fmt.Errorf("parse image reference %q: want host/repo:tag or host/repo@sha256:…, without a scheme", ref)
	}
	r, err := parseReference(ref)
	if err != nil {
		return nil, err
	}
	repo := &remote.Repository{Reference: r, ReferrerListMaxPages: maxListPages, TagListMaxPages: maxListPages}
	repo.PlainHTTP = opts.Insecure || isLocal(r.Registry)
	cred := opts.Credential
	if cred == nil {
		store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("read docker credential configuration: %w", err)
		}
		cred = credentials.Credential(store)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: retry.NewTransport(nil), Timeout: requestTimeout}
	}
	client := &auth.Client{Client: hc, Cache: auth.NewCache(), Credential: cred}
	if opts.UserAgent != "" {
		client.SetUserAgent(opts.UserAgent)
	}
	repo.Client = client
	return repo, nil
}

// parseReference parses ref with docker's rules for short names (as cssc
// scan does) and returns it in oras-go's form.
func parseReference(ref string) (registry.Reference, error) {
	n, err := name.ParseReference(ref, name.WithDefaultTag(""))
	if err != nil {
		return registry.Reference{}, fmt.Errorf("parse image reference %q: %w (want host/repo:tag or host/repo@sha256:…)", ref, err)
	}
	host := n.Context().RegistryStr()
	if host == name.DefaultRegistry {
		// Docker Hub is "docker.io" to notation's trust policy scopes and
		// to credential stores; oras-go reaches it as registry-1.docker.io.
		host = "docker.io"
	}
	r := registry.Reference{Registry: host, Repository: n.Context().RepositoryStr(), Reference: n.Identifier()}
	if err := r.Validate(); err != nil {
		return registry.Reference{}, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	return r, nil
}

// isLocal reports whether a registry host is this machine, reached over
// plain HTTP without a flag.
func isLocal(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Unreachable reports whether err means the registry could not be asked at
// all (a network failure, a cancelled or timed-out command): verification
// cannot go on, whatever was being read.
func Unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) || errors.As(err, &ne)
}

// HTTPError reports whether the registry answered with an HTTP error other
// than 404 (which oras-go reports as errdef.ErrNotFound): the registry
// could not be read, so a verification could not be done — an error, not
// a malformed signature or a missing artifact.
func HTTPError(err error) bool {
	var re *errcode.ErrorResponse
	return errors.As(err, &re) && re.StatusCode != http.StatusNotFound
}
