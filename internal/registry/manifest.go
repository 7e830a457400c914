package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types the registry stores.
const (
	MediaTypeOCIManifest    = v1.MediaTypeImageManifest
	MediaTypeOCIIndex       = v1.MediaTypeImageIndex
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerForeign  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// parsedManifest is what the registry needs to know of a manifest.
type parsedManifest struct {
	MediaType    string
	ArtifactType string
	Subject      digest.Digest
	Annotations  map[string]string
	Blobs        []v1.Descriptor // must be in the repository
	Children     []v1.Descriptor // manifests that must be in the repository
}

// rawManifest covers the fields of all four manifest kinds.
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// manifestError is a manifest the spec says to refuse (MANIFEST_INVALID).
type manifestError struct{ msg string }

func (e *manifestError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &manifestError{msg: fmt.Sprintf(format, args...)}
}

// parseManifest validates body, sent with Content-Type contentType, and
// extracts its references. It never trusts a field it has not checked: every
// digest is parsed, sizes are non-negative, embedded data matches its
// descriptor.
func parseManifest(contentType string, body []byte) (*parsedManifest, error) {
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("manifest is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("manifest has data after the JSON object")
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	mt := ""
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, invalid("invalid Content-Type %q", contentType)
		}
		mt = parsed
	}
	switch {
	case mt == "" || mt == "application/json":
		mt = raw.MediaType
	case raw.MediaType != "" && raw.MediaType != mt:
		return nil, invalid("Content-Type %q does not match the manifest's mediaType %q", mt, raw.MediaType)
	}
	if mt == "" {
		// No type anywhere: the image spec lets an OCI manifest omit it.
		if raw.Manifests != nil {
			mt = MediaTypeOCIIndex
		} else {
			mt = MediaTypeOCIManifest
		}
	}
	p := &parsedManifest{MediaType: mt, Annotations: raw.Annotations}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if raw.Manifests != nil {
			return nil, invalid("an image manifest cannot list manifests")
		}
		if raw.Config == nil {
			return nil, invalid("config descriptor is missing")
		}
		if err := checkDescriptor("config", *raw.Config); err != nil {
			return nil, err
		}
		if !hasData(*raw.Config) {
			p.Blobs = append(p.Blobs, *raw.Config)
		}
		for i, l := range raw.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return nil, err
			}
			if nonDistributable(l) || hasData(l) {
				continue
			}
			p.Blobs = append(p.Blobs, l)
		}
		p.ArtifactType = raw.ArtifactType
		if p.ArtifactType == "" {
			p.ArtifactType = raw.Config.MediaType
		}
	case MediaTypeOCIIndex, MediaTypeDockerList:
		if raw.Config != nil || raw.Layers != nil {
			return nil, invalid("an index cannot have config or layers")
		}
		for i, m := range raw.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), m); err != nil {
				return nil, err
			}
			p.Children = append(p.Children, m)
		}
		p.ArtifactType = raw.ArtifactType
	case mediaTypeDockerSchema1, "application/vnd.docker.distribution.manifest.v1+json":
		return nil, invalid("Docker schema 1 manifests are not supported (deprecated since 2017)")
	default:
		return nil, invalid("unsupported manifest media type %q", mt)
	}
	if mt == MediaTypeDockerManifest || mt == MediaTypeDockerList {
		if raw.Subject != nil || raw.ArtifactType != "" {
			return nil, invalid("Docker manifests cannot carry subject or artifactType")
		}
	}
	if raw.Subject != nil {
		if err := checkDescriptor("subject", *raw.Subject); err != nil {
			return nil, err
		}
		p.Subject = raw.Subject.Digest
	}
	return p, nil
}

func checkDescriptor(where string, d v1.Descriptor) error {
	if _, ok := parseDigest(d.Digest.String()); !ok {
		return invalid("%s: invalid or unsupported digest %q", where, d.Digest)
	}
	if d.Size < 0 {
		return invalid("%s: negative size", where)
	}
	if d.MediaType == "" {
		return invalid("%s: mediaType is missing", where)
	}
	if _, _, err := mime.ParseMediaType(d.MediaType); err != nil {
		return invalid("%s: invalid mediaType %q", where, d.MediaType)
	}
	if len(d.Data) > 0 {
		if int64(len(d.Data)) != d.Size {
			return invalid("%s: embedded data is %d bytes, descriptor says %d", where, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return invalid("%s: embedded data does not match digest %s", where, d.Digest)
		}
	}
	return nil
}

func hasData(d v1.Descriptor) bool { return len(d.Data) > 0 }

// nonDistributable layers are fetched from elsewhere; the spec requires
// accepting a manifest whose such layers are not in the registry.
func nonDistributable(d v1.Descriptor) bool {
	return strings.Contains(d.MediaType, ".nondistributable.") ||
		d.MediaType == mediaTypeDockerForeign || len(d.URLs) > 0
}
