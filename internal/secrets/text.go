package secrets

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// textSample is how much of a file IsText examines.
const textSample = 8 << 10

// binaryMagic are the starts of executable and compressed formats that
// can contain no NUL byte early on but are not text.
var binaryMagic = [][]byte{
	[]byte("\x7fELF"),             // ELF
	[]byte("PK\x03\x04"),          // zip, jar, apk…
	[]byte("PK\x05\x06"),          // empty zip
	[]byte("\x1f\x8b"),            // gzip
	[]byte("BZh"),                 // bzip2
	[]byte("\xfd7zXZ\x00"),        // xz
	[]byte("\x28\xb5\x2f\xfd"),    // zstd
	[]byte("\xca\xfe\xba\xbe"),    // Java class, Mach-O fat
	[]byte("\xcf\xfa\xed\xfe"),    // Mach-O 64-bit
	[]byte("\x00asm"),             // WebAssembly
	[]byte("\x89PNG\r\n\x1a\n"),   // PNG
	[]byte("%PDF-"),               // PDF: compressed streams
	[]byte("SQLite format 3\x00"), // SQLite
}

// IsText reports whether data looks like text, the only content secrets
// are looked for in. The rule, on the first 8 KiB:
//   - it does not start with the magic of an executable or compressed
//     format (ELF, PE, zip, gzip, bzip2, xz, zstd, class/Mach-O, wasm, PNG,
//     PDF, SQLite);
//   - it holds no NUL byte (so UTF-16 text counts as binary);
//   - at most 1 byte in 16 is a control character other than tab, newline,
//     carriage return, form feed, vertical tab, backspace and escape, or a
//     byte that is not part of valid UTF-8 (leaving room for Latin-1 text).
//
// Empty data is text (with nothing in it).
func IsText(data []byte) bool {
	if len(data) > textSample {
		data = data[:textSample]
	}
	for _, m := range binaryMagic {
		if bytes.HasPrefix(data, m) {
			return false
		}
	}
	if isPE(data) {
		return false
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	bad, n := 0, 0
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(data) {
				break // a character cut by the sample's end
			}
			bad++
		} else if r < 0x20 || r == 0x7f {
			switch r {
			case '\t', '\n', '\r', '\f', '\v', '\b', 0x1b:
			default:
				bad++
			}
		}
		n += size
		data = data[size:]
	}
	return bad*16 <= n
}

// isPE reports whether data starts a PE (Windows) executable: "MZ" and,
// at the offset stored at 0x3c, "PE\0\0".
func isPE(data []byte) bool {
	if len(data) < 0x40 || data[0] != 'M' || data[1] != 'Z' {
		return false
	}
	off := binary.LittleEndian.Uint32(data[0x3c:])
	return int64(off)+4 <= int64(len(data)) && bytes.Equal(data[off:off+4], []byte("PE\x00\x00"))
}
