package notary

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestECDSARaw(t *testing.T) {
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	big256 := new(big.Int).Lsh(big.NewInt(1), 256)
	full := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	maxBytes := bytes.Repeat([]byte{0xff}, 32)
	tests := []struct {
		name string
		in   []byte
		size int
		want []byte
		err  bool
	}{
		{"small values are left-padded", der(big.NewInt(1), big.NewInt(0x0203)), 4, []byte{0, 0, 0, 1, 0, 0, 2, 3}, false},
		{"full size", der(full, full), 32, append(append([]byte{}, maxBytes...), maxBytes...), false},
		{"larger than the curve", der(big256, big.NewInt(1)), 32, nil, true},
		{"zero", der(big.NewInt(0), big.NewInt(1)), 32, nil, true},
		{"negative", der(big.NewInt(-1), big.NewInt(1)), 32, nil, true},
		{"trailing bytes", append(der(big.NewInt(1), big.NewInt(1)), 0), 32, nil, true},
		{"not DER", []byte{1, 2, 3}, 32, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ecdsaRaw(tc.in, tc.size)
			if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
				t.Fatalf("ecdsaRaw = %x, %v; want %x, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
