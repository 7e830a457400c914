package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func FuzzParseManifest(f *testing.F) {
	cfg := v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromString("config"), Size: 6}
	layer := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("layer"), Size: 5}
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	img := imageManifest(cfg, []v1.Descriptor{layer}, nil, "")
	art := imageManifest(v1.DescriptorEmptyJSON, []v1.Descriptor{layer}, &subject, "application/vnd.example.sbom")
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{subject}}
	idx.SchemaVersion = 2
	docker := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":%q,"size":6},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":%q,"size":5},{"mediaType":%q,"digest":%q,"size":9,"urls":["https://x"]}]}`,
		MediaTypeDockerManifest, cfg.Digest, layer.Digest, mediaTypeDockerForeign, digest.FromString("foreign"))
	mb := func(v any) []byte { b, _ := jsonMarshal(v); return b }
	f.Add(v1.MediaTypeImageManifest, mb(img))
	f.Add("", mb(img))
	f.Add(v1.MediaTypeImageManifest, mb(art))
	f.Add(v1.MediaTypeImageIndex, mb(idx))
	f.Add("application/json", mb(idx))
	f.Add(MediaTypeDockerManifest, []byte(docker))
	f.Add(MediaTypeDockerList, []byte(`{"schemaVersion":2,"mediaType":"`+MediaTypeDockerList+`","manifests":[]}`))
	f.Add(v1.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}}`))
	f.Add(v1.MediaTypeImageManifest, []byte("garbage \x00\xff{"))
	f.Add("text/plain; charset=\"", []byte(`{"schemaVersion":2}`))
	f.Add(v1.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha512:00","size":-1}}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := parseManifest(contentType, body)
		p2, err2 := parseManifest(contentType, body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(p, p2) {
			t.Fatalf("parsing twice differs: %+v %v / %+v %v", p, err, p2, err2)
		}
		if err != nil {
			if p != nil {
				t.Fatal("error with a result")
			}
			if _, ok := err.(*manifestError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		switch p.MediaType {
		case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		default:
			t.Fatalf("accepted media type %q", p.MediaType)
		}
		for _, list := range [][]v1.Descriptor{p.Blobs, p.Children} {
			for _, d := range list {
				if err := d.Digest.Validate(); err != nil {
					t.Fatalf("accepted descriptor with digest %q: %v", d.Digest, err)
				}
				if _, ok := parseDigest(d.Digest.String()); !ok {
					t.Fatalf("accepted unsupported digest %q", d.Digest)
				}
				if d.Size < 0 {
					t.Fatalf("accepted negative size %d", d.Size)
				}
			}
		}
		if p.Subject != "" {
			if err := p.Subject.Validate(); err != nil {
				t.Fatalf("accepted subject %q: %v", p.Subject, err)
			}
		}
		if len(p.Children) > 0 && len(p.Blobs) > 0 {
			t.Fatal("manifest with both blobs and children")
		}
	})
}

// FuzzUploadChunks drives a chunked upload over HTTP with fuzz-chosen chunk
// boundaries, optionally with one bad chunk, and checks the registry stores
// exactly the data or answers a 4xx that leaves the upload resumable.
func FuzzUploadChunks(f *testing.F) {
	s := startServer(f, f.TempDir(), Options{})
	f.Add([]byte("hello world, this is a blob"), []byte{3, 5, 1}, uint8(0), uint8(0))
	f.Add([]byte("0123456789"), []byte{2, 2, 2, 2}, uint8(1), uint8(1))
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz"), []byte{10, 0, 7}, uint8(2), uint8(2))
	f.Add([]byte{}, []byte{}, uint8(0), uint8(0))
	f.Add([]byte("x"), []byte{0}, uint8(3), uint8(0))
	f.Add(bytes.Repeat([]byte{0xAB}, 5000), []byte{200, 17, 255, 1}, uint8(4), uint8(1))
	f.Add([]byte("streamed chunks"), []byte{4, 4}, uint8(5), uint8(1))
	f.Add([]byte("finish in put"), []byte{6}, uint8(8), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cuts []byte, mode uint8, badAt uint8) {
		if len(data) > 1<<16 {
			data = data[:1<<16]
		}
		const repo = "fuzz/upload"
		r := s.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.StatusCode, r.Body)
		}
		loc := r.Header.Get("Location")
		defer s.do(t, http.MethodDelete, loc, nil) // forget unfinished sessions

		// Chunk boundaries: each cut byte is a chunk length (at least 1).
		var chunks [][]byte
		rest := data
		for _, c := range cuts {
			if len(rest) == 0 {
				break
			}
			n := min(int(c)%(len(rest))+1, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if len(rest) > 0 {
			chunks = append(chunks, rest)
		}
		streamed := mode&4 != 0  // no Content-Range
		lastInPut := mode&8 != 0 // the last chunk goes with the PUT
		badKind := mode & 3      // 0: none, 1: out of order, 2: bad range syntax, 3: length mismatch
		bad := int(badAt) % (len(chunks) + 1)

		var size int
		checkStatus := func(r response, what string) {
			t.Helper()
			if r.StatusCode >= 500 {
				t.Fatalf("%s: %d %s", what, r.StatusCode, r.Body)
			}
		}
		// resumable checks a refused chunk left the upload at size.
		resumable := func(r response, what string) {
			t.Helper()
			checkStatus(r, what)
			if r.StatusCode < 400 {
				t.Fatalf("%s: accepted (%d)", what, r.StatusCode)
			}
			if r.StatusCode == http.StatusRequestedRangeNotSatisfiable {
				if r.Header.Get("Range") != rangeHeader(int64(size)) || r.Header.Get("Location") != loc {
					t.Fatalf("%s: 416 with Range %q Location %q, want %q %q", what, r.Header.Get("Range"), r.Header.Get("Location"), rangeHeader(int64(size)), loc)
				}
			}
			st := s.do(t, http.MethodGet, loc, nil)
			if st.StatusCode != http.StatusNoContent || st.Header.Get("Range") != rangeHeader(int64(size)) {
				t.Fatalf("%s: upload status %d Range %q, want %q", what, st.StatusCode, st.Header.Get("Range"), rangeHeader(int64(size)))
			}
		}
		for i, c := range chunks {
			if badKind != 0 && i == bad {
				var br response
				switch badKind {
				case 1: // a chunk that does not start where the upload ends
					start := size + 1 + int(badAt)
					br = s.do(t, http.MethodPatch, loc, bytes.NewReader(c),
						"Content-Range", fmt.Sprintf("%d-%d", start, start+len(c)-1))
				case 2:
					br = s.do(t, http.MethodPatch, loc, bytes.NewReader(c), "Content-Range", "bytes=oops")
				case 3:
					br = s.do(t, http.MethodPatch, loc, bytes.NewReader(c),
						"Content-Range", fmt.Sprintf("%d-%d", size, size+len(c)))
				}
				resumable(br, fmt.Sprintf("bad chunk %d (kind %d)", i, badKind))
			}
			if lastInPut && i == len(chunks)-1 {
				break
			}
			hdr := []string{"Content-Type", "application/octet-stream"}
			if !streamed {
				hdr = append(hdr, "Content-Range", fmt.Sprintf("%d-%d", size, size+len(c)-1))
			}
			pr := s.do(t, http.MethodPatch, loc, bytes.NewReader(c), hdr...)
			checkStatus(pr, fmt.Sprintf("chunk %d", i))
			if pr.StatusCode != http.StatusAccepted {
				t.Fatalf("chunk %d: %d %s", i, pr.StatusCode, pr.Body)
			}
			size += len(c)
			if pr.Header.Get("Range") != rangeHeader(int64(size)) {
				t.Fatalf("chunk %d: Range %q, want %q", i, pr.Header.Get("Range"), rangeHeader(int64(size)))
			}
		}
		want := digest.FromBytes(data)
		var body []byte
		hdr := []string{}
		if lastInPut && len(chunks) > 0 {
			body = chunks[len(chunks)-1]
			if !streamed {
				hdr = append(hdr, "Content-Range", fmt.Sprintf("%d-%d", size, size+len(body)-1))
			}
		}
		fr := s.do(t, http.MethodPut, loc+"?digest="+want.String(), bytes.NewReader(body), hdr...)
		checkStatus(fr, "finish")
		if fr.StatusCode != http.StatusCreated || fr.Header.Get("Docker-Content-Digest") != want.String() {
			t.Fatalf("finish: %d %s", fr.StatusCode, fr.Body)
		}
		g := s.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+want.String(), nil)
		if g.StatusCode != http.StatusOK || !bytes.Equal(g.Body, data) {
			t.Fatalf("stored blob: %d, %d bytes, want %d", g.StatusCode, len(g.Body), len(data))
		}
	})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
