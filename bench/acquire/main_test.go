package main

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestBreakdownOf(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	step := func(name string, from, to int) stepResult {
		return stepResult{Step: name, Outcome: "ok", Started: at(from), Finished: at(to)}
	}
	promoted := &record{ID: "a1", State: statePromoted, CreatedAt: t0, Steps: []stepResult{
		step("import", 50, 1050), step("verify-signatures", 1060, 1070), step("verify-metadata", 1070, 1080),
		step("analyse", 1090, 3090), step("score", 3100, 3110), step("decide", 3110, 3150),
		step("enrich", 3160, 3400), step("sign", 3400, 3500), step("promote", 3500, 3550), step("notify", 3560, 3570),
	}}
	for _, tc := range []struct {
		name    string
		rec     *record
		want    breakdown
		wantErr string
	}{
		{
			name: "promoted",
			rec:  promoted,
			want: breakdown{
				Queued: 50 * time.Millisecond, Total: 3570 * time.Millisecond,
				// 10 ms gaps after import, analyse, decide, promote and
				// verify-metadata; none between steps run back to back.
				Between: 50 * time.Millisecond,
				Phases: map[string]time.Duration{
					"import": time.Second, "verify": 20 * time.Millisecond, "analyse": 2 * time.Second,
					"score+decide": 50 * time.Millisecond, "enrich+sign+promote": 390 * time.Millisecond, "notify": 10 * time.Millisecond,
				},
			},
		},
		{
			name: "blocked skips enrich, sign and promote",
			rec: &record{ID: "a2", State: stateBlocked, CreatedAt: t0, Steps: []stepResult{
				step("import", 0, 100), step("analyse", 100, 300), step("decide", 300, 310), step("notify", 320, 330),
			}},
			want: breakdown{Total: 330 * time.Millisecond, Between: 10 * time.Millisecond, Phases: map[string]time.Duration{
				"import": 100 * time.Millisecond, "analyse": 200 * time.Millisecond, "score+decide": 10 * time.Millisecond, "notify": 10 * time.Millisecond,
			}},
		},
		{name: "running", rec: &record{ID: "a3", State: "running", CreatedAt: t0}, wantErr: "not final"},
		{name: "no steps", rec: &record{ID: "a4", State: stateFailed, CreatedAt: t0}, wantErr: "no steps"},
		{name: "unknown step", rec: &record{ID: "a5", State: stateFailed, CreatedAt: t0, Steps: []stepResult{step("teleport", 0, 1)}}, wantErr: "unknown step"},
		{name: "out of order", rec: &record{ID: "a6", State: stateFailed, CreatedAt: t0, Steps: []stepResult{step("import", 10, 20), step("analyse", 15, 30)}}, wantErr: "out of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := breakdownOf(tc.rec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Queued != tc.want.Queued || got.Total != tc.want.Total || got.Between != tc.want.Between {
				t.Errorf("queued %v total %v between %v; want %v %v %v", got.Queued, got.Total, got.Between, tc.want.Queued, tc.want.Total, tc.want.Between)
			}
			if len(got.Phases) != len(tc.want.Phases) {
				t.Errorf("phases %v, want %v", got.Phases, tc.want.Phases)
			}
			for k, v := range tc.want.Phases {
				if got.Phases[k] != v {
					t.Errorf("phase %s: %v, want %v", k, got.Phases[k], v)
				}
			}
		})
	}
}

func TestPhasesCoverEveryStepOnce(t *testing.T) {
	steps := []string{"import", "verify-signatures", "verify-metadata", "analyse", "score", "decide", "enrich", "sign", "promote", "notify"}
	seen := map[string]int{}
	for _, p := range phases {
		for _, s := range p.Steps {
			seen[s]++
		}
	}
	for _, s := range steps {
		if seen[s] != 1 {
			t.Errorf("step %s is in %d phases, want 1", s, seen[s])
		}
	}
	if len(seen) != len(steps) {
		t.Errorf("phases name %d steps, want %d: %v", len(seen), len(steps), seen)
	}
}

func TestMakeImage(t *testing.T) {
	spec := imageSpec{Layers: 2, LayerSize: 300 << 10, FileSize: 128 << 10, Seed: "t-1"}
	img, err := makeImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Fatalf("%d layers, want the base layer and 2", len(layers))
	}
	files := map[string][]byte{}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil || mt != types.OCILayer {
			t.Errorf("layer media type %s %v, want %s", mt, err, types.OCILayer)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
		_ = rc.Close()
	}
	if !strings.Contains(string(files["usr/lib/os-release"]), "VERSION_ID=\"12\"") || !strings.Contains(string(files["var/lib/dpkg/status"]), "Package: libssl3") {
		t.Errorf("base layer lacks os-release or the dpkg database: %v", keys(files))
	}
	// 300 KiB in files of 128 KiB: 128 + 128 + 44 per layer.
	var total int
	for l := range 2 {
		for i, want := range []int{128 << 10, 128 << 10, 44 << 10} {
			b, ok := files["opt/bench/layer"+string(rune('0'+l))+"/file00"+string(rune('0'+i))+".dat"]
			if !ok || len(b) != want {
				t.Errorf("layer %d file %d: %d bytes (present %v), want %d", l, i, len(b), ok, want)
			}
			total += len(b)
		}
	}
	if total != 2*300<<10 {
		t.Errorf("random files hold %d bytes, want %d", total, 2*300<<10)
	}
	// Random content: distinct files, and it does not compress.
	if bytes.Equal(files["opt/bench/layer0/file000.dat"], files["opt/bench/layer1/file000.dat"]) {
		t.Error("two layers hold the same random file")
	}
	size, err := layers[1].Size()
	if err != nil || size < 300<<10 {
		t.Errorf("compressed random layer: %d bytes (%v), want at least its 300 KiB of content", size, err)
	}
	cf, err := img.ConfigFile()
	if err != nil || cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.RootFS.DiffIDs) != 3 {
		t.Errorf("config %+v %v", cf, err)
	}

	// The same seed gives the same layers; another seed other ones.
	again, err := makeImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	other, err := makeImage(imageSpec{Layers: 2, LayerSize: 300 << 10, FileSize: 128 << 10, Seed: "t-2"})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := layers[1].Digest()
	l2, _ := again.Layers()
	l3, _ := other.Layers()
	d2, _ := l2[1].Digest()
	d3, _ := l3[1].Digest()
	if d1 != d2 || d1 == d3 {
		t.Errorf("layer digests: seed t-1 %s and %s, seed t-2 %s; want the first two equal, the third different", d1, d2, d3)
	}
	b1, _ := layers[0].Digest()
	b3, _ := l3[0].Digest()
	if b1 != b3 {
		t.Errorf("base layers differ (%s, %s): every image should share it", b1, b3)
	}

	if _, err := makeImage(imageSpec{Layers: 1, LayerSize: 10, FileSize: 20, Seed: "bad"}); err == nil {
		t.Error("a file larger than its layer was accepted")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
