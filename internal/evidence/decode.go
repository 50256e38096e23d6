package evidence

import (
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultDecodeBudget is the memory all image decodes of a process may
// hold at once, in bytes. 192 MiB fits the largest image the pixel caps
// let through as 8-bit RGBA (40 MP × 4 B = 160 MB, plus its preview) and
// keeps the process's growth under the 300 MB issue 16 allows, whatever
// number of uploads arrive together.
const DefaultDecodeBudget = 192 << 20

// DefaultDecodeWait is how long a decode waits for its share of the
// budget before the file is refused as "busy": the length of a request
// (REQUEST_TIMEOUT's default).
const DefaultDecodeWait = 30 * time.Second

// freeAbove is the size of a decode after which its memory is handed back
// to the system at once (debug.FreeOSMemory), before the budget goes to
// the next decode. Measured with cmd/violet's TestProcess (four 160 MB
// decodes at once, resident memory from 80 MB): without it the peak grew
// by 307 MB (the next decode started before the collector reclaimed the
// last) and 384 MB stayed resident after; with it the peak grew by
// 124 MB and 43 MB stayed. A full collection costs a few ms, nothing next
// to a decode of that size, so 32 MiB (an 8 MP screenshot) is the line;
// smaller decodes are left to the collector.
const freeAbove = 32 << 20

// DecodeBudget is the memory that image decodes share: each takes the
// bytes its image will decode to before it starts and gives them back
// when done, so that N uploads at once never hold more than the budget.
// It is built once at start-up and passed to Ingest through Limits.
type DecodeBudget struct {
	sem  *semaphore.Weighted
	size int64
	held atomic.Int64
	peak atomic.Int64
}

// NewDecodeBudget returns a budget of size bytes.
func NewDecodeBudget(size int64) *DecodeBudget {
	return &DecodeBudget{sem: semaphore.NewWeighted(size), size: size}
}

// Size is the budget in bytes: no one image may need more.
func (b *DecodeBudget) Size() int64 { return b.size }

// Held is what running decodes hold now, in bytes.
func (b *DecodeBudget) Held() int64 { return b.held.Load() }

// Peak is the most that decodes held at once since the budget was built
// (tests and the process's measurements read it).
func (b *DecodeBudget) Peak() int64 { return b.peak.Load() }

// acquire waits for n bytes of the budget until ctx is done.
func (b *DecodeBudget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	held := b.held.Add(n)
	for {
		p := b.peak.Load()
		if held <= p || b.peak.CompareAndSwap(p, held) {
			break
		}
	}
	return nil
}

func (b *DecodeBudget) release(n int64) {
	b.held.Add(-n)
	b.sem.Release(n)
}

// decodeCost is the most memory decoding an image of kind and cfg (whose
// first bytes are head) and making its preview takes, in bytes. It
// follows what the decoders of the standard library and x/image allocate
// for each colour model, and errs on the side of more:
//
//   - PNG: the image at the model's bytes per pixel (Gray 1, Gray16 2,
//     paletted 1, RGBA/NRGBA 4, RGBA64/NRGBA64 8); an interlaced one is
//     decoded pass by pass into images of its own and then merged: twice.
//   - JPEG: the planes at their sampling (4:4:4 YCbCr is 3 B/px, 4:2:0
//     1.5), a progressive one keeps 4 B of coefficients per sample on
//     top, an RGB (Adobe) one is converted into a new RGBA and a CMYK one
//     into a new CMYK image (+4 B/px).
//   - GIF: the first frame, paletted, 1 B/px.
//   - WebP: lossy YCbCr 4:2:0 is 1.5 B/px; lossless (VP8L, also inside
//     the extended format) decodes to NRGBA and may copy it once: 8.
//   - Any other model: 8 B/px, the most any decoder here takes.
//
// The preview (an RGBA of at most PreviewSide², and its encoding) is
// added.
func decodeCost(kind string, cfg image.Config, head []byte) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var b int64 // bytes of the decode, by then
	switch kind {
	case "png":
		b = px * pngBytesPerPixel(cfg.ColorModel)
		if len(head) > 28 && head[28] == 1 { // IHDR's interlace method: Adam7
			b *= 2
		}
		b += 2 * (int64(cfg.Width)*8 + 1) // the current and previous rows
	case "jpeg":
		b = jpegCost(cfg, head)
	case "gif":
		b = px
	case "webp":
		if cfg.ColorModel == color.YCbCrModel && len(head) >= 16 && string(head[12:16]) == "VP8 " {
			b = px * 3 / 2
		} else {
			b = px * 8
		}
	default:
		b = px * 8
	}
	pw, ph := previewSize(cfg.Width, cfg.Height, PreviewSide)
	// The preview's pixels, and its encoding, which is not larger than
	// them by more than the format's framing.
	return b + 2*int64(pw)*int64(ph)*4 + 64<<10
}

func pngBytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// jpegCost reads the frame header (SOFn) in head for the components and
// their sampling factors, and whether the image is progressive. Without
// a readable frame header it assumes the worst: four full-resolution
// progressive components.
func jpegCost(cfg image.Config, head []byte) int64 {
	progressive, comps, ok := jpegFrame(head)
	if !ok {
		progressive, comps = true, [][2]int{{1, 1}, {1, 1}, {1, 1}, {1, 1}}
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c[0]), max(vmax, c[1])
	}
	// The decoder allocates whole MCUs: round the size up to one.
	w := int64((cfg.Width + 8*hmax - 1) / (8 * hmax) * 8 * hmax)
	h := int64((cfg.Height + 8*vmax - 1) / (8 * vmax) * 8 * vmax)
	px := w * h
	var samples int64 // one byte each, over every component
	for _, c := range comps {
		samples += px * int64(c[0]*c[1]) / int64(hmax*vmax)
	}
	b := samples
	if progressive {
		b += 4 * samples // a block of 64 int32 coefficients per 8×8 samples
	}
	switch cfg.ColorModel {
	case color.RGBAModel, color.CMYKModel:
		b += 4 * px // converted into an image of its own
	case color.YCbCrModel, color.GrayModel:
	default:
		b += 8 * px
	}
	return b
}

// jpegFrame walks the marker segments of a JPEG's head to its frame
// header: whether it is progressive, and each component's horizontal and
// vertical sampling factors.
func jpegFrame(head []byte) (progressive bool, comps [][2]int, ok bool) {
	i := 2 // after SOI
	for i+4 <= len(head) {
		if head[i] != 0xff {
			return false, nil, false
		}
		marker := head[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		n := int(binary.BigEndian.Uint16(head[i+2:]))
		seg := head[i+4 : min(len(head), i+2+n)]
		switch marker {
		case 0xc0, 0xc1, 0xc2: // baseline, extended sequential, progressive: what image/jpeg decodes
			if len(seg) < 6 {
				return false, nil, false
			}
			nc := int(seg[5])
			if nc < 1 || nc > 4 || len(seg) < 6+3*nc {
				return false, nil, false
			}
			for c := range nc {
				hv := seg[6+3*c+1]
				comps = append(comps, [2]int{max(1, int(hv>>4)), max(1, int(hv&0x0f))})
			}
			return marker == 0xc2, comps, true
		}
		i += 2 + n
	}
	return false, nil, false
}

// previewSize is the size downscale gives an image of w × h.
func previewSize(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, h*side/w)
	}
	return max(1, w*side/h), side
}
