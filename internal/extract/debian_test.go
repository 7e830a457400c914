package extract

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/imagefs"
)

func TestCopyrightLicenses(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       []string
	}{
		{"machine-readable", `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: openssl

Files: *
Copyright: 1998-2024 The OpenSSL Project
License: Apache-2.0

Files: debian/*
License: GPL-2+ or Artistic
 This program is free software…

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 …
`, []string{"Apache-2.0", "GPL-2.0-or-later", "Artistic-1.0"}},
		{"expression with an exception", "License: LGPL-2.1+, with OpenSSL exception\nLicense: BSD-3-clause and Expat\n",
			[]string{"LGPL-2.1-or-later", "BSD-3-Clause", "MIT"}},
		{"free text", "This is Debian's prepackaged version of bash.\n\nOn Debian systems, the complete text of the GNU General\nPublic License version 3 can be found in `/usr/share/common-licenses/GPL-3'.\n",
			[]string{"GPL-3.0-only"}},
		{"unknown names kept", "License: public-domain\nLicense: SSLeay\n", []string{"public-domain", "SSLeay"}},
		{"nothing", "Copyright: someone\n", nil},
	} {
		if got := copyrightLicenses(strings.NewReader(tt.file)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMetadataLicenses(t *testing.T) {
	for _, tt := range []struct {
		name, meta string
		want       []string
	}{
		{"expression", "Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT OR Apache-2.0\nLicense: ignored\n", []string{"MIT OR Apache-2.0"}},
		{"license field", "Name: urllib3\nLicense: MIT\n\nLicense: in the description", []string{"MIT"}},
		{"classifiers", "Name: x\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\nClassifier: Programming Language :: Python\n", []string{"BSD License"}},
		{"a licence text is not a name", "Name: x\nLicense: " + strings.Repeat("Permission is hereby granted ", 10) + "\n", nil},
		{"nothing", "Name: x\n", nil},
	} {
		if got := metadataLicenses(strings.NewReader(tt.meta)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSelector(t *testing.T) {
	exs, err := extractors()
	if err != nil {
		t.Fatal(err)
	}
	want := selector(exs)
	elf := []byte("\x7fELF\x02\x01\x01")
	for _, tt := range []struct {
		path string
		mode uint32
		size int64
		head []byte
		want bool
	}{
		{"/usr/local/bin/app", 0o755, 2 << 20, elf, true},
		{"/usr/local/bin/script", 0o755, 200, []byte("#!/bin/sh\n"), false},
		{"/models/weights.bin", 0o644, 4 << 30, []byte("GGUF\x03\x00"), false},
		{"/usr/lib/x86_64-linux-gnu/libssl.so.3", 0o644, 700 << 10, elf, true},
		{"/var/lib/dpkg/status", 0o644, 50 << 10, []byte("Package: x"), true},
		{"/var/lib/dpkg/status", 0o644, 200 << 20, []byte("Package: x"), true}, // above osv-scalibr's default cap: still read
		{"/app/node_modules/x/package.json", 0o644, 300, []byte("{"), true},
		{"/usr/share/doc/bash/copyright", 0o644, 3 << 10, nil, true},
		{"/usr/share/doc/bash/changelog.gz", 0o644, 3 << 10, nil, false},
		{"/usr/share/doc/huge/copyright", 0o644, 2 << 20, nil, false},
		{"/etc/os-release", 0o644, 300, nil, true},
		{"/etc/passwd", 0o644, 300, nil, false},
	} {
		e := imagefs.Entry{Path: tt.path, Kind: imagefs.File, Mode: fsMode(tt.mode), Size: tt.size}
		if got := want(e, func() []byte { return tt.head }); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.path, got, tt.want)
		}
	}
}

func fsMode(m uint32) fs.FileMode { return fs.FileMode(m) }
