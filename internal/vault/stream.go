package vault

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ChunkSize is the number of plaintext bytes in every chunk of a version
// file but the last.
const ChunkSize = 64 << 10

const (
	tagSize      = 16 // AES-GCM tag
	encChunkSize = ChunkSize + tagSize
	nonceSize    = 12
)

// streamNonce returns the STREAM nonce of chunk counter: the counter as an
// 11-byte big-endian integer, then 0x01 for the last chunk or 0x00.
func streamNonce(counter uint64, last bool) [nonceSize]byte {
	var n [nonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], counter) // bytes 0–2 stay zero: 2⁶⁴ chunks is plenty
	if last {
		n[11] = 1
	}
	return n
}

var errWriterClosed = errors.New("write after the last chunk")

// encryptor seals what is written to it in STREAM chunks and writes them
// to w. A full chunk is sealed only once more data arrives, so that the
// last chunk, sealed by close, may be full.
type encryptor struct {
	w       io.Writer
	aead    cipher.AEAD
	aad     []byte
	buf     []byte // buffered plaintext, cap ChunkSize
	out     []byte // sealed chunk, cap encChunkSize
	counter uint64
	err     error // sticky
}

func newEncryptor(w io.Writer, aead cipher.AEAD, aad []byte) *encryptor {
	return &encryptor{
		w:    w,
		aead: aead,
		aad:  aad,
		buf:  make([]byte, 0, ChunkSize),
		out:  make([]byte, 0, encChunkSize),
	}
}

func (e *encryptor) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == ChunkSize {
			if err := e.seal(false); err != nil {
				e.err = err
				return n, err
			}
		}
		k := copy(e.buf[len(e.buf):ChunkSize], p)
		e.buf = e.buf[:len(e.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// close seals the buffered plaintext as the last chunk. No write may
// follow.
func (e *encryptor) close() error {
	if e.err != nil {
		return e.err
	}
	err := e.seal(true)
	e.wipe()
	if err != nil {
		e.err = err
		return err
	}
	e.err = errWriterClosed
	return nil
}

// wipe clears the buffered plaintext.
func (e *encryptor) wipe() {
	clear(e.buf[:cap(e.buf)])
	e.buf = e.buf[:0]
}

func (e *encryptor) seal(last bool) error {
	if e.counter == math.MaxUint64 {
		return errors.New("too many chunks")
	}
	nonce := streamNonce(e.counter, last)
	e.out = e.aead.Seal(e.out[:0], nonce[:], e.buf, e.aad)
	if _, err := e.w.Write(e.out); err != nil {
		return err
	}
	e.counter++
	e.buf = e.buf[:0]
	return nil
}

// decryptor opens STREAM chunks read from r. It reads one byte past each
// full chunk to learn whether it is the last, so the last flag is always
// checked against where the data really ends.
type decryptor struct {
	r       io.Reader
	aead    cipher.AEAD
	aad     []byte
	in      []byte // encChunkSize+1: a chunk and the first byte of the next
	pending int    // bytes of the next chunk already in in[:pending]
	buf     []byte // plaintext of the current chunk, cap ChunkSize
	plain   []byte // unread part of buf
	counter uint64
	err     error // sticky; io.EOF after the last chunk
}

func newDecryptor(r io.Reader, aead cipher.AEAD, aad []byte) *decryptor {
	return &decryptor{
		r:    r,
		aead: aead,
		aad:  aad,
		in:   make([]byte, encChunkSize+1),
		buf:  make([]byte, 0, ChunkSize),
	}
}

func (d *decryptor) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next reads and opens one chunk into d.plain. It returns io.EOF after the
// last chunk, whose plaintext is still in d.plain.
func (d *decryptor) next() error {
	n, err := io.ReadFull(d.r, d.in[d.pending:])
	total := d.pending + n
	var chunk []byte
	last := false
	switch {
	case err == nil: // a full chunk and more after it
		chunk = d.in[:encChunkSize]
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		chunk, last = d.in[:total], true
		if total < tagSize {
			return fmt.Errorf("chunk %d: truncated, last chunk missing: %w", d.counter, ErrCorrupt)
		}
		if total == tagSize && d.counter > 0 {
			// Only an empty plaintext ends in an empty chunk.
			return fmt.Errorf("chunk %d: empty last chunk: %w", d.counter, ErrCorrupt)
		}
	default:
		return fmt.Errorf("chunk %d: %w", d.counter, err)
	}
	if d.counter == math.MaxUint64 {
		return fmt.Errorf("chunk %d: too many chunks: %w", d.counter, ErrCorrupt)
	}
	nonce := streamNonce(d.counter, last)
	pt, err := d.aead.Open(d.buf[:0], nonce[:], chunk, d.aad)
	if err != nil {
		if last {
			return fmt.Errorf("chunk %d: authentication failed (or truncated): %w", d.counter, ErrCorrupt)
		}
		return fmt.Errorf("chunk %d: authentication failed: %w", d.counter, ErrCorrupt)
	}
	d.plain = pt
	d.counter++
	if last {
		d.pending = 0
		return io.EOF
	}
	d.in[0] = d.in[encChunkSize]
	d.pending = 1
	return nil
}

// wipe clears the plaintext buffer.
func (d *decryptor) wipe() {
	clear(d.buf[:cap(d.buf)])
	d.plain = nil
}
