package merkle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// checkpointHeader is the first line of every encoded checkpoint; it names
// the format so that a signature over one cannot be taken for a signature
// over anything else.
const checkpointHeader = "cleanroom audit checkpoint v1"

// ErrMalformedCheckpoint means a checkpoint's text is not in the canonical
// encoding of Checkpoint.Encode, or describes an invalid checkpoint.
var ErrMalformedCheckpoint = errors.New("merkle: malformed checkpoint")

// Checkpoint is the state of a log at one size: the number of leaves and
// the root over them. The server signs its encoding and members cosign it.
//
// Invariants (Validate): Size >= 0, and the root of size 0 is EmptyRoot.
type Checkpoint struct {
	Size int
	Root [32]byte
}

// Validate reports whether c satisfies its invariants, with an error
// wrapping ErrMalformedCheckpoint if not.
func (c Checkpoint) Validate() error {
	if c.Size < 0 {
		return fmt.Errorf("checkpoint: size %d: %w", c.Size, ErrMalformedCheckpoint)
	}
	if c.Size == 0 && c.Root != emptyRoot {
		return fmt.Errorf("checkpoint: size 0 with a root other than the empty tree's: %w", ErrMalformedCheckpoint)
	}
	return nil
}

// Encode returns the canonical text that is signed:
//
//	cleanroom audit checkpoint v1
//	<size in decimal>
//	<root in standard padded base64>
//
// each line ending in "\n". Each checkpoint has exactly one encoding, and
// ParseCheckpoint accepts nothing else.
func (c Checkpoint) Encode() []byte {
	b := make([]byte, 0, len(checkpointHeader)+1+20+1+base64.StdEncoding.EncodedLen(HashSize)+1)
	b = append(b, checkpointHeader...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, int64(c.Size), 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, c.Root[:])
	return append(b, '\n')
}

// ParseCheckpoint parses the canonical encoding made by Encode and
// validates the result. Errors wrap ErrMalformedCheckpoint.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	fail := func(what string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: %s: %w", what, ErrMalformedCheckpoint)
	}
	lines := bytes.Split(text, []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 {
		return fail("want three lines each ending in a newline")
	}
	if string(lines[0]) != checkpointHeader {
		return fail("unknown header")
	}
	size, err := strconv.Atoi(string(lines[1]))
	if err != nil || size < 0 || strconv.Itoa(size) != string(lines[1]) {
		return fail("size is not a canonical non-negative decimal")
	}
	var c Checkpoint
	c.Size = size
	if len(lines[2]) != base64.StdEncoding.EncodedLen(HashSize) {
		return fail("root is not 32 bytes of base64")
	}
	var root [HashSize + 1]byte // DecodedLen rounds up to whole groups.
	n, err := base64.StdEncoding.Strict().Decode(root[:], lines[2])
	if err != nil || n != HashSize {
		return fail("root is not 32 bytes of canonical base64")
	}
	copy(c.Root[:], root[:HashSize])
	if err := c.Validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: %w", err)
	}
	return c, nil
}
