package merkle_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

func TestCheckpointEncode(t *testing.T) {
	root := [32]byte{0: 0xfb, 31: 0x01}
	tests := []struct {
		c    merkle.Checkpoint
		want string
	}{
		{merkle.Checkpoint{Size: 0, Root: merkle.EmptyRoot()},
			"cleanroom audit checkpoint v1\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"},
		{merkle.Checkpoint{Size: 1234567, Root: root},
			"cleanroom audit checkpoint v1\n1234567\n+wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\n"},
	}
	for _, tc := range tests {
		if got := string(tc.c.Encode()); got != tc.want {
			t.Errorf("Encode(%+v) = %q, want %q", tc.c, got, tc.want)
		}
		got, err := merkle.ParseCheckpoint([]byte(tc.want))
		if err != nil || got != tc.c {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v, want %+v", tc.want, got, err, tc.c)
		}
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	const root = "+wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="
	bad := []string{
		"",
		"cleanroom audit checkpoint v1\n5\n" + root,                                        // no final newline
		"cleanroom audit checkpoint v1\n5\n" + root + "\n\n",                               // extra line
		"cleanroom audit checkpoint v2\n5\n" + root + "\n",                                 // other version
		"cleanroom audit checkpoint v1\r\n5\n" + root + "\n",                               // CRLF
		"cleanroom audit checkpoint v1\n05\n" + root + "\n",                                // leading zero
		"cleanroom audit checkpoint v1\n+5\n" + root + "\n",                                // sign
		"cleanroom audit checkpoint v1\n-5\n" + root + "\n",                                // negative
		"cleanroom audit checkpoint v1\n 5\n" + root + "\n",                                // space
		"cleanroom audit checkpoint v1\n\n" + root + "\n",                                  // no size
		"cleanroom audit checkpoint v1\n99999999999999999999\n" + root + "\n",              // overflow
		"cleanroom audit checkpoint v1\n5\n" + root[:43] + "F\n",                           // non-zero padding bits
		"cleanroom audit checkpoint v1\n5\n" + root[:42] + "\n",                            // unpadded
		"cleanroom audit checkpoint v1\n5\n" + root[:40] + "\r\nAE=\n",                     // ignored-newline trick
		"cleanroom audit checkpoint v1\n5\n-wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\n", // URL alphabet
		"cleanroom audit checkpoint v1\n5\n" + root + root + "\n",                          // 64 bytes
		"cleanroom audit checkpoint v1\n0\n" + root + "\n",                                 // size 0, root not empty
	}
	for _, s := range bad {
		if c, err := merkle.ParseCheckpoint([]byte(s)); !errors.Is(err, merkle.ErrMalformedCheckpoint) {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v, want ErrMalformedCheckpoint", s, c, err)
		}
	}
}

func TestCheckpointValidate(t *testing.T) {
	for _, c := range []merkle.Checkpoint{{Size: -1, Root: merkle.EmptyRoot()}, {Size: 0}} {
		if err := c.Validate(); !errors.Is(err, merkle.ErrMalformedCheckpoint) {
			t.Errorf("%+v.Validate() = %v, want ErrMalformedCheckpoint", c, err)
		}
	}
	if err := (merkle.Checkpoint{Size: 3}).Validate(); err != nil {
		t.Errorf("Validate() of size 3 = %v", err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(merkle.Checkpoint{Size: 0, Root: merkle.EmptyRoot()}.Encode())
	f.Add(merkle.Checkpoint{Size: 42, Root: [32]byte{1, 2, 3}}.Encode())
	f.Add([]byte("cleanroom audit checkpoint v1\n1\n\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := merkle.ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, merkle.ErrMalformedCheckpoint) {
				t.Fatalf("ParseCheckpoint(%q) = %v, want ErrMalformedCheckpoint", text, err)
			}
			return
		}
		// The encoding is canonical: what parses re-encodes to itself.
		if got := c.Encode(); !bytes.Equal(got, text) {
			t.Fatalf("ParseCheckpoint(%q).Encode() = %q", text, got)
		}
	})
}
