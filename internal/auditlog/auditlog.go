// Package auditlog makes a room's audit trail verifiable by its members
// without trusting the host: the room's entries, in sequence order, are
// the leaves of an RFC 9162 Merkle tree (internal/merkle); the server signs
// checkpoints (tree size and root, naming server and room) with its Ed25519
// key; a member keeps the checkpoints it has seen, accepting a new one only
// with a consistency proof from the last; and an export of the log is
// verified offline against the member's own checkpoints, which reveals an
// edited, removed, reordered or inserted entry, a truncated log, or a fork
// (the host showing this member a history other than the one it signed
// before).
//
// Cosigning by every member and receipts for releases build on this.
package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

// Leaf is the encoding of an entry that the tree hashes: its content,
// without the legacy hash chain. An empty detail encodes as null whether
// it was read from the store (empty) or from the API (omitted).
func Leaf(e *cleanroom.AuditEntry) []byte {
	detail := e.Detail
	if len(detail) == 0 {
		detail = nil
	}
	b, _ := json.Marshal(struct {
		Seq       int64             `json:"seq"`
		Time      string            `json:"time"`
		Actor     string            `json:"actor"`
		Action    string            `json:"action"`
		Object    string            `json:"object"`
		Room      string            `json:"room"`
		Outcome   string            `json:"outcome"`
		Code      string            `json:"code"`
		Detail    map[string]string `json:"detail"`
		RequestID string            `json:"request_id"`
	}{e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, string(e.Action), e.Object, e.Room, e.Outcome, e.Code, detail, e.RequestID})
	return b
}

// Tree builds the tree of a room's entries, in the order given.
func Tree(entries []cleanroom.AuditEntry) *merkle.Tree {
	t := &merkle.Tree{}
	for i := range entries {
		t.Append(merkle.LeafHash(Leaf(&entries[i])))
	}
	return t
}

// Checkpoint is a signed statement of a room log's size and root.
type Checkpoint struct {
	Server    string `json:"server"`
	Room      string `json:"room"`
	Size      int    `json:"size"`
	Root      []byte `json:"root"`
	Signature []byte `json:"signature"`
}

// message is what the server signs: a context, the log's name, and the
// RFC 9162-style checkpoint text.
func (c *Checkpoint) message() ([]byte, error) {
	if len(c.Root) != merkle.HashSize {
		return nil, errors.New("checkpoint root is not 32 bytes")
	}
	var root [32]byte
	copy(root[:], c.Root)
	return append([]byte("cleanroom audit log v1\n"+c.Server+"/"+c.Room+"\n"), merkle.Checkpoint{Size: c.Size, Root: root}.Encode()...), nil
}

// Sign signs the checkpoint with the server's key.
func (c *Checkpoint) Sign(priv ed25519.PrivateKey) error {
	m, err := c.message()
	if err != nil {
		return err
	}
	c.Signature = ed25519.Sign(priv, m)
	return nil
}

// ErrBadSignature is returned by Verify for a checkpoint the server key
// did not sign.
var ErrBadSignature = errors.New("checkpoint signature does not verify")

// ErrBadKey is returned by the Verify methods for a public key that is not
// an Ed25519 key: a server or party key read from a damaged or forged file.
var ErrBadKey = errors.New("public key is not an Ed25519 key")

// Verify checks the checkpoint's signature with the server's public key.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("server key: %w", ErrBadKey)
	}
	m, err := c.message()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, m, c.Signature) {
		return ErrBadSignature
	}
	return nil
}

// Root32 returns the root as an array.
func (c *Checkpoint) Root32() [32]byte {
	var r [32]byte
	copy(r[:], c.Root)
	return r
}

// Export is a room's log as a member downloads it.
type Export struct {
	Server     string                 `json:"server"`
	Room       string                 `json:"room"`
	Entries    []cleanroom.AuditEntry `json:"entries"`
	Checkpoint Checkpoint             `json:"checkpoint"`
}

// Verify checks an export offline: the entries hash to the export's signed
// checkpoint, and to every checkpoint the member kept (held, each already
// signature-checked when it was kept), and holds each entry the member has
// a receipt for (each already checked when it was kept), and agrees with
// the other parties' cosignatures the member collected (each already
// signature-checked). It returns one finding per problem,
// none for a log that verifies.
func Verify(e *Export, pub ed25519.PublicKey, held []Checkpoint, receipts []Receipt, cosigned []Cosignature) []string {
	var out []string
	if err := e.Checkpoint.Verify(pub); err != nil {
		out = append(out, "the export's checkpoint is not signed by the server's key")
	}
	if e.Checkpoint.Server != e.Server || e.Checkpoint.Room != e.Room {
		out = append(out, "the export's checkpoint is for another log")
	}
	for i := 1; i < len(e.Entries); i++ {
		if e.Entries[i].Seq <= e.Entries[i-1].Seq {
			out = append(out, fmt.Sprintf("entry %d (seq %d) is out of order after seq %d", i+1, e.Entries[i].Seq, e.Entries[i-1].Seq))
		}
	}
	t := Tree(e.Entries)
	if e.Checkpoint.Size != t.Size() {
		out = append(out, fmt.Sprintf("the export holds %d entries, its checkpoint %d", t.Size(), e.Checkpoint.Size))
	} else if root, _ := t.Root(t.Size()); root != e.Checkpoint.Root32() {
		out = append(out, "the entries do not hash to the export's checkpoint: an entry was edited, removed, reordered or inserted")
	}
	for _, h := range held {
		if h.Server != e.Server || h.Room != e.Room {
			continue
		}
		if h.Size > t.Size() {
			out = append(out, fmt.Sprintf("the log is truncated: a checkpoint you hold has %d entries, the export %d", h.Size, t.Size()))
			continue
		}
		if root, _ := t.Root(h.Size); root != h.Root32() {
			out = append(out, fmt.Sprintf("the first %d entries differ from the checkpoint you hold for that size: an entry was edited, removed, reordered or inserted, or the host showed you another history (a fork)", h.Size))
		}
	}
	for _, cs := range cosigned {
		if cs.Size > t.Size() {
			out = append(out, fmt.Sprintf("the log is truncated: party %s cosigned %d entries, the export has %d", cs.Party, cs.Size, t.Size()))
			continue
		}
		if root, _ := t.Root(cs.Size); !bytes.Equal(root[:], cs.Root) {
			out = append(out, fmt.Sprintf("party %s cosigned a different history of the first %d entries: the host showed members different logs (a fork)", cs.Party, cs.Size))
		}
	}
	for _, r := range receipts {
		if r.Checkpoint.Server != e.Server || r.Checkpoint.Room != e.Room {
			continue
		}
		switch {
		case r.Index >= len(e.Entries):
			out = append(out, fmt.Sprintf("entry seq %d, for which you hold a receipt, is missing: the log is truncated", r.Entry.Seq))
		case !bytes.Equal(Leaf(&e.Entries[r.Index]), Leaf(&r.Entry)):
			out = append(out, fmt.Sprintf("entry seq %d, for which you hold a receipt, was edited, removed or moved", r.Entry.Seq))
		}
	}
	return out
}

// Receipt proves that an entry is at a place in the log a signed
// checkpoint covers.
type Receipt struct {
	Entry      cleanroom.AuditEntry `json:"entry"`
	Index      int                  `json:"index"`
	Checkpoint Checkpoint           `json:"checkpoint"`
	Proof      [][]byte             `json:"proof"`
}

// Verify checks the receipt's checkpoint signature and the entry's
// inclusion proof.
func (r *Receipt) Verify(pub ed25519.PublicKey) error {
	if err := r.Checkpoint.Verify(pub); err != nil {
		return err
	}
	proof, err := ParseProof(r.Proof)
	if err != nil {
		return err
	}
	if err := merkle.VerifyInclusion(merkle.LeafHash(Leaf(&r.Entry)), r.Index, r.Checkpoint.Size, proof, r.Checkpoint.Root32()); err != nil {
		return fmt.Errorf("entry seq %d is not in the log the checkpoint signs: %w", r.Entry.Seq, err)
	}
	return nil
}

// String names a checkpoint in messages.
func (c *Checkpoint) String() string {
	return c.Server + "/" + c.Room + " size " + strconv.Itoa(c.Size) + " root " + base64.StdEncoding.EncodeToString(c.Root)
}

// ProofBytes is a proof as the API carries it.
func ProofBytes(proof [][32]byte) [][]byte {
	out := make([][]byte, len(proof))
	for i, h := range proof {
		out[i] = append([]byte(nil), h[:]...)
	}
	return out
}

// ParseProof is the inverse of ProofBytes; every hash must be 32 bytes.
func ParseProof(proof [][]byte) ([][32]byte, error) {
	out := make([][32]byte, len(proof))
	for i, p := range proof {
		if len(p) != merkle.HashSize {
			return nil, fmt.Errorf("proof hash %d is %d bytes, not %d", i+1, len(p), merkle.HashSize)
		}
		copy(out[i][:], p)
	}
	return out, nil
}

// Cosignature is a party's signed statement that it checked a checkpoint
// of a room's log against the checkpoints it kept before.
type Cosignature struct {
	Party     string `json:"party"`
	Size      int    `json:"size"`
	Root      []byte `json:"root"`
	Signature []byte `json:"signature"`
}

// cosignMessage is what a party signs: a context naming the party, then
// the message the server signs.
func (c *Checkpoint) cosignMessage(party string) ([]byte, error) {
	m, err := c.message()
	if err != nil {
		return nil, err
	}
	return append([]byte("cleanroom audit cosignature v1\n"+party+"\n"), m...), nil
}

// Cosign signs the checkpoint for party with the party's signing key.
func (c *Checkpoint) Cosign(party string, priv ed25519.PrivateKey) (Cosignature, error) {
	m, err := c.cosignMessage(party)
	if err != nil {
		return Cosignature{}, err
	}
	return Cosignature{Party: party, Size: c.Size, Root: append([]byte(nil), c.Root...), Signature: ed25519.Sign(priv, m)}, nil
}

// Verify checks the cosignature of the checkpoint it names of server's log
// of room under the party's signing key.
func (cs *Cosignature) Verify(server, room string, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("party %s's key: %w", cs.Party, ErrBadKey)
	}
	c := Checkpoint{Server: server, Room: room, Size: cs.Size, Root: cs.Root}
	m, err := c.cosignMessage(cs.Party)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, m, cs.Signature) {
		return fmt.Errorf("party %s's cosignature of size %d does not verify under its signing key", cs.Party, cs.Size)
	}
	return nil
}
