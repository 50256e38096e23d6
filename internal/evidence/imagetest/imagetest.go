// Package imagetest builds images for tests of the evidence limits that
// are huge once decoded but small as files, without ever holding their
// pixels: the PNG's zlib stream is assembled from one deflated segment.
package imagetest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
)

// PNG16 is a valid w × h PNG of 16-bit RGBA (colour type 6, depth 16:
// 8 bytes a pixel once decoded) with every pixel transparent black. Its
// rows of zeros compress about a thousand to one: 12000 × 3333 is a file
// of about 300 KB that decodes to 320 MB, the image of issue 16.
func PNG16(w, h int) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // depth, colour type RGBA; compression, filter, interlace 0
	chunk(&out, "IHDR", ihdr)
	// Every byte of the image data is zero (filter type 0, then the
	// pixels), so the zlib stream is written without compressing 320 MB
	// (which takes 40 s under the race detector): one segment of zeros is
	// deflated once by a fresh writer, so it refers to nothing before it,
	// and repeated; the Adler-32 of n zero bytes is (n mod 65521) << 16 | 1.
	n := int64(h) * int64(1+w*8)
	const seg = 1 << 20
	var idat bytes.Buffer
	idat.Write([]byte{0x78, 0xda}) // zlib header: deflate, best compression
	zeros := deflated(seg, false)
	for ; n > seg; n -= seg {
		idat.Write(zeros)
	}
	idat.Write(deflated(int(n), true))
	total := int64(h) * int64(1+w*8)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], uint32(total%65521)<<16|1)
	idat.Write(sum[:])
	for b := idat.Bytes(); len(b) > 0; {
		n := min(len(b), 1<<20)
		chunk(&out, "IDAT", b[:n])
		b = b[n:]
	}
	chunk(&out, "IEND", nil)
	return out.Bytes()
}

// deflated is a raw deflate encoding of n zero bytes by a fresh writer:
// flushed (byte-aligned, not final) so that copies can follow it, or
// closed (the final block).
func deflated(n int, final bool) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	_, _ = fw.Write(make([]byte, n))
	if final {
		_ = fw.Close()
	} else {
		_ = fw.Flush()
	}
	return b.Bytes()
}

func chunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	out.WriteString(typ)
	out.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}
