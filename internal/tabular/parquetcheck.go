package tabular

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// parquet-go decodes a file trusting the sizes it declares: the footer's
// length, the lengths of the lists in the footer, the sizes in page
// headers. It allocates what they say before it finds they are wrong, so a
// damaged file could ask for gigabytes and end the process, which no
// recover can stop. checkFooter and checkPages read those sizes first and
// reject a file that declares more than it holds.

// checkFooter checks the footer's length and, in its Thrift compact
// encoding, that no list, set, map or string is longer than the bytes
// left to hold it.
func checkFooter(r io.ReaderAt, size int64) error {
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("reading the footer: %w", err)
	}
	if string(tail[4:]) != "PAR1" {
		return errors.New("it does not end with PAR1; it may have been cut short")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return fmt.Errorf("its footer is %d bytes, longer than the file", n)
	}
	footer := make([]byte, n)
	if _, err := r.ReadAt(footer, size-8-n); err != nil {
		return fmt.Errorf("reading the footer: %w", err)
	}
	c := compactChecker{b: footer}
	if err := c.value(typeStruct, 0); err != nil {
		return fmt.Errorf("unreadable footer: %w", err)
	}
	return nil
}

// Thrift compact protocol types
// (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
const (
	typeTrue   = 1
	typeFalse  = 2
	typeByte   = 3
	typeI16    = 4
	typeI32    = 5
	typeI64    = 6
	typeDouble = 7
	typeBinary = 8
	typeList   = 9
	typeSet    = 10
	typeMap    = 11
	typeStruct = 12
	typeUUID   = 13
)

const maxThriftDepth = 64

var errShort = errors.New("declares more than it holds")

// compactChecker walks a Thrift compact encoding without building it.
type compactChecker struct {
	b []byte
	i int
}

func (c *compactChecker) left() int { return len(c.b) - c.i }

func (c *compactChecker) byte() (byte, error) {
	if c.i >= len(c.b) {
		return 0, errShort
	}
	c.i++
	return c.b[c.i-1], nil
}

func (c *compactChecker) uvarint() (uint64, error) {
	v, n := binary.Uvarint(c.b[c.i:])
	if n <= 0 {
		return 0, errors.New("bad varint")
	}
	c.i += n
	return v, nil
}

func (c *compactChecker) skip(n uint64) error {
	if n > uint64(c.left()) {
		return errShort
	}
	c.i += int(n)
	return nil
}

func (c *compactChecker) value(t byte, depth int) error {
	if depth > maxThriftDepth {
		return errors.New("nested too deeply")
	}
	switch t {
	case typeTrue, typeFalse, typeByte:
		return c.skip(1)
	case typeI16, typeI32, typeI64:
		_, err := c.uvarint()
		return err
	case typeDouble:
		return c.skip(8)
	case typeUUID:
		return c.skip(16)
	case typeBinary:
		n, err := c.uvarint()
		if err != nil {
			return err
		}
		return c.skip(n)
	case typeList, typeSet:
		h, err := c.byte()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = c.uvarint(); err != nil {
				return err
			}
		}
		if n > uint64(c.left()) { // every element takes a byte at least
			return errShort
		}
		for range n {
			if err := c.value(elem, depth+1); err != nil {
				return err
			}
		}
		return nil
	case typeMap:
		n, err := c.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := c.byte()
		if err != nil {
			return err
		}
		if n > uint64(c.left())/2 {
			return errShort
		}
		for range n {
			if err := c.value(kv>>4, depth+1); err != nil {
				return err
			}
			if err := c.value(kv&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case typeStruct:
		for {
			h, err := c.byte()
			if err != nil {
				return err
			}
			if h == 0 { // stop
				return nil
			}
			if h>>4 == 0 { // long form: the field id follows
				if _, err := c.uvarint(); err != nil {
					return err
				}
			}
			switch ft := h & 0x0f; ft {
			case typeTrue, typeFalse: // the value is the type
			default:
				if err := c.value(ft, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return fmt.Errorf("unknown type %d", t)
}

// Limits on what a page header may declare. A page is typically 1 MiB.
const (
	maxPageBytes   = 256 << 20
	maxPageValues  = 1 << 26
	maxHeaderBytes = 64 << 20
)

// checkPages reads the header of every page before the decoder does.
// parquet-go allocates the buffers a page header declares before it reads
// the page, so one damaged header could ask for gigabytes and end the
// process; this rejects such files with an error instead. Headers are
// decoded from a bounded window of bytes, so decoding them cannot allocate
// more than the window either. It reads only the headers, a few KiB per
// page.
func checkPages(r io.ReaderAt, size int64, md *format.FileMetaData) error {
	var compact thrift.CompactProtocol
	window := make([]byte, 64<<10)
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		for c := range rg.Columns {
			m := &rg.Columns[c].MetaData
			where := fmt.Sprintf("row group %d, column chunk %d", g+1, c+1)
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			end := start + m.TotalCompressedSize
			if start < 4 || m.TotalCompressedSize < 0 || end < start || end > size-8 {
				return fmt.Errorf("%s lies outside the file", where)
			}
			for pos := start; pos < end; {
				n, err := r.ReadAt(window[:min(int64(len(window)), end-pos)], pos)
				if n == 0 {
					return fmt.Errorf("%s: %w", where, err)
				}
				var h format.PageHeader
				rd := compact.NewReaderFromBytes(window[:n])
				if err := thrift.NewDecoder(rd).Decode(&h); err != nil {
					// Statistics of long values make long headers.
					if n == len(window) && len(window) < maxHeaderBytes {
						window = make([]byte, 4*len(window))
						continue
					}
					return fmt.Errorf("%s: unreadable page header at byte %d", where, pos)
				}
				pos += int64(rd.BytesRead())
				values := int64(0)
				switch {
				case h.DataPageHeader.Valid:
					values = int64(h.DataPageHeader.V.NumValues)
				case h.DataPageHeaderV2.Valid:
					values = int64(max(h.DataPageHeaderV2.V.NumValues, h.DataPageHeaderV2.V.NumRows))
				case h.DictionaryPageHeader.Valid:
					values = int64(h.DictionaryPageHeader.V.NumValues)
				}
				switch {
				case h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > end-pos:
					return fmt.Errorf("%s: a page at byte %d overruns its column chunk", where, pos)
				case h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes:
					return fmt.Errorf("%s: a page at byte %d declares %d bytes, over the %d-byte limit", where, pos, h.UncompressedPageSize, maxPageBytes)
				case values < 0 || values > maxPageValues:
					return fmt.Errorf("%s: a page at byte %d declares %d values, over the limit of %d", where, pos, values, maxPageValues)
				}
				pos += int64(h.CompressedPageSize)
			}
		}
	}
	return nil
}
