package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Limits bound what Ingest accepts.
type Limits struct {
	MaxBytes  int64 // the size of one file (the setting evidence.max_upload_bytes)
	MaxSide   int   // an image's width or height, in pixels
	MaxPixels int   // an image's width × height
	// Decodes is the process's memory budget for image decodes: an image
	// whose decode needs more than all of it is refused, and a preview is
	// made only once its bytes are taken from it. nil gives this call a
	// budget of DefaultDecodeBudget of its own (tools, tests).
	Decodes *DecodeBudget
	// DecodeWait bounds the wait for the budget (0: DefaultDecodeWait);
	// past it the file is refused as busy.
	DecodeWait time.Duration
}

// Image caps. The pixels alone do not bound memory (a 16-bit image takes
// 8 bytes a pixel): what a decode takes is counted by decodeCost and
// bounded by the DecodeBudget.
const (
	DefaultMaxSide   = 12000
	DefaultMaxPixels = 40_000_000
	// PreviewSide is the longest side of a preview.
	PreviewSide = 1600
)

// ErrTooLarge is a file over Limits.MaxBytes (413).
var ErrTooLarge = errors.New("evidence: file over the size limit")

// Refusal is a file refused for what it is (422); Reason is an i18n key.
type Refusal struct {
	Reason string
}

func (r *Refusal) Error() string { return "evidence: refused: " + r.Reason }

// Reasons of refusals.
const (
	ReasonType       = "evidence.refused.type"
	ReasonText       = "evidence.refused.text"
	ReasonImage      = "evidence.refused.image"
	ReasonDimensions = "evidence.refused.dimensions"
	ReasonEmpty      = "evidence.refused.empty"
	// ReasonMemory: the image would decode to more than the whole budget.
	ReasonMemory = "evidence.refused.memory"
	// ReasonBusy: other decodes held the budget for all of DecodeWait.
	ReasonBusy = "evidence.refused.busy"
)

// Stored is a file kept by Ingest: what its row records.
type Stored struct {
	Key        string
	PreviewKey string // "" when the file has no preview
	Name       string // sanitised
	Kind       Kind
	Size       int64
	SHA256     string // hex, of the original bytes
	Width      int
	Height     int
}

// headSize is how much of a file is looked at before it is accepted: the
// magic bytes, the start of a text, an image's header (a JPEG's EXIF
// block may come before its frame header).
const headSize = 256 << 10

// Ingest checks and stores one uploaded file read from r under a new
// random key: the name must carry an allowed extension and the content
// start like that format; images must have a readable header within
// their caps (checked before any decoding); text must be UTF-8 without
// NUL to its end. The bytes are hashed while they stream to the store.
// An image also gets a preview (decoded, downscaled, re-encoded as PNG or
// JPEG: no metadata survives), stored under PreviewKey; what the decode
// takes in memory is counted (decodeCost) and taken from lim.Decodes
// first. On any error nothing is left in the store.
func Ingest(ctx context.Context, store Store, name string, r io.Reader, lim Limits) (*Stored, error) {
	if lim.MaxSide == 0 {
		lim.MaxSide = DefaultMaxSide
	}
	if lim.MaxPixels == 0 {
		lim.MaxPixels = DefaultMaxPixels
	}
	if lim.Decodes == nil {
		lim.Decodes = NewDecodeBudget(DefaultDecodeBudget)
	}
	if lim.DecodeWait == 0 {
		lim.DecodeWait = DefaultDecodeWait
	}
	out := &Stored{Key: NewKey(), Name: SanitizeName(name)}
	limited := &limitReader{r: r, left: lim.MaxBytes}
	br := bufio.NewReaderSize(limited, headSize)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if len(head) == 0 {
		return nil, &Refusal{Reason: ReasonEmpty}
	}
	kind, ok := Detect(out.Name, head)
	if !ok {
		return nil, &Refusal{Reason: ReasonType}
	}
	out.Kind = kind
	var cost int64 // of decoding the image
	if kind.Class == ClassImage {
		cfg, err := decodeConfig(kind.Name, head)
		if err != nil {
			return nil, &Refusal{Reason: ReasonImage}
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide ||
			cfg.Width*cfg.Height > lim.MaxPixels {
			return nil, &Refusal{Reason: ReasonDimensions}
		}
		// Refused before a byte is stored: it could never get its memory.
		if cost = decodeCost(kind.Name, cfg, head); cost > lim.Decodes.Size() {
			return nil, &Refusal{Reason: ReasonMemory}
		}
		out.Width, out.Height = cfg.Width, cfg.Height
	}
	sum := sha256.New()
	var src io.Reader = io.TeeReader(br, sum)
	if kind.Class == ClassText {
		src = &textReader{r: src}
	}
	n, err := store.Put(ctx, out.Key, src)
	if err != nil {
		return nil, err
	}
	out.Size = n
	out.SHA256 = hex.EncodeToString(sum.Sum(nil))
	if kind.Class == ClassImage {
		if err := makePreview(ctx, store, out, lim, cost); err != nil {
			_ = store.Delete(context.WithoutCancel(ctx), out.Key)
			return nil, err
		}
	}
	return out, nil
}

// Discard removes what Ingest stored (an upload refused or failed after
// it): the original and its preview.
func Discard(ctx context.Context, store Store, s *Stored) {
	ctx = context.WithoutCancel(ctx)
	_ = store.Delete(ctx, s.Key)
	if s.PreviewKey != "" {
		_ = store.Delete(ctx, s.PreviewKey)
	}
}

func decodeConfig(kind string, head []byte) (image.Config, error) {
	r := bytes.NewReader(head)
	switch kind {
	case "png":
		return png.DecodeConfig(r)
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "gif":
		return gif.DecodeConfig(r)
	case "webp":
		return webp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("evidence: not an image: %s", kind)
}

func decode(kind string, r io.Reader) (image.Image, error) {
	switch kind {
	case "png":
		return png.Decode(r)
	case "jpeg":
		return jpeg.Decode(r)
	case "gif":
		return gif.Decode(r) // the first frame
	case "webp":
		return webp.Decode(r)
	}
	return nil, fmt.Errorf("evidence: not an image: %s", kind)
}

// makePreview decodes the stored original (its dimensions and cost were
// checked), scales it to PreviewSide at most and stores it re-encoded:
// JPEG for photographs (JPEG, opaque WebP), PNG for the rest (screenshots
// stay sharp, transparency stays). An image that does not decode is
// refused. The decode runs with cost bytes of lim.Decodes held, waiting
// for them at most lim.DecodeWait.
func makePreview(ctx context.Context, store Store, s *Stored, lim Limits, cost int64) error {
	wait, cancel := context.WithTimeout(ctx, lim.DecodeWait)
	defer cancel()
	if err := lim.Decodes.acquire(wait, cost); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Refusal{Reason: ReasonBusy}
	}
	buf, err := encodePreview(ctx, store, s)
	if cost > freeAbove {
		// The decoded image is garbage now: hand its pages back before
		// the budget goes to the next decode, so that the heap never
		// holds one decode's garbage and another's image (and the
		// process does not keep its peak size for ever).
		debug.FreeOSMemory()
	}
	lim.Decodes.release(cost) // the preview left to store is small
	if err != nil {
		return err
	}
	key := PreviewKey(s.Key)
	if _, err := store.Put(ctx, key, buf); err != nil {
		return err
	}
	s.PreviewKey = key
	return nil
}

// encodePreview decodes the original and returns its preview, encoded;
// the full-size image is unreachable once it returns.
func encodePreview(ctx context.Context, store Store, s *Stored) (*bytes.Buffer, error) {
	f, err := store.Open(ctx, s.Key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := decode(s.Kind.Name, bufio.NewReader(f))
	if err != nil {
		return nil, &Refusal{Reason: ReasonImage}
	}
	img = downscale(img, PreviewSide)
	var buf bytes.Buffer
	if s.Kind.Name == "jpeg" || (s.Kind.Name == "webp" && isOpaque(img)) {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: encode preview: %w", err)
	}
	return &buf, nil
}

// downscale fits img in side × side, keeping its proportions.
func downscale(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := previewSize(b.Dx(), b.Dy(), side)
	if w == b.Dx() && h == b.Dy() {
		// Copied anyway so that the encoder never sees the source's
		// colour model quirks (paletted GIFs, CMYK JPEGs).
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
		return dst
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

func isOpaque(img image.Image) bool {
	o, ok := img.(interface{ Opaque() bool })
	return ok && o.Opaque()
}

// PreviewType tells a preview's content type from its first bytes.
func PreviewType(head []byte) string {
	if bytes.HasPrefix(head, []byte("\x89PNG")) {
		return "image/png"
	}
	return "image/jpeg"
}

// limitReader fails with ErrTooLarge once more than left bytes were read
// (one byte over is enough).
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	return n, err
}

// textReader fails when what it passes on is not UTF-8 or holds a NUL; a
// rune split across reads is carried over (without allocating).
type textReader struct {
	r     io.Reader
	carry [utf8.UTFMax]byte
	nc    int
}

var errNotText = &Refusal{Reason: ReasonText}

func (t *textReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	data := p[:n]
	if bytes.IndexByte(data, 0) >= 0 {
		return 0, errNotText
	}
	i := 0
	if t.nc > 0 {
		for i < len(data) && !utf8.FullRune(t.carry[:t.nc]) {
			t.carry[t.nc] = data[i]
			t.nc++
			i++
		}
		if utf8.FullRune(t.carry[:t.nc]) {
			r, size := utf8.DecodeRune(t.carry[:t.nc])
			if (r == utf8.RuneError && size <= 1) || size != t.nc {
				return 0, errNotText
			}
			t.nc = 0
		}
	}
	rest := data[i:]
	cut := len(rest)
	for j := len(rest) - 1; j >= 0 && j >= len(rest)-utf8.UTFMax; j-- {
		if utf8.RuneStart(rest[j]) {
			if !utf8.FullRune(rest[j:]) {
				cut = j
			}
			break
		}
	}
	if !utf8.Valid(rest[:cut]) {
		return 0, errNotText
	}
	t.nc += copy(t.carry[t.nc:], rest[cut:])
	if errors.Is(err, io.EOF) && t.nc > 0 {
		return 0, errNotText
	}
	return n, err
}
