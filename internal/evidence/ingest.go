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
	"unicode/utf8"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Limits bound what Ingest accepts.
type Limits struct {
	MaxBytes  int64 // the size of one file (the setting evidence.max_upload_bytes)
	MaxSide   int   // an image's width or height, in pixels
	MaxPixels int   // an image's width × height
}

// Image caps: a decoded image takes 4 bytes a pixel, so 40 MP is 160 MB at
// most while its preview is made.
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
// JPEG: no metadata survives), stored under PreviewKey. On any error
// nothing is left in the store.
func Ingest(ctx context.Context, store Store, name string, r io.Reader, lim Limits) (*Stored, error) {
	if lim.MaxSide == 0 {
		lim.MaxSide = DefaultMaxSide
	}
	if lim.MaxPixels == 0 {
		lim.MaxPixels = DefaultMaxPixels
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
	if kind.Class == ClassImage {
		cfg, err := decodeConfig(kind.Name, head)
		if err != nil {
			return nil, &Refusal{Reason: ReasonImage}
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide ||
			cfg.Width*cfg.Height > lim.MaxPixels {
			return nil, &Refusal{Reason: ReasonDimensions}
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
		if err := makePreview(ctx, store, out); err != nil {
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

// makePreview decodes the stored original (its dimensions were checked),
// scales it to PreviewSide at most and stores it re-encoded: JPEG for
// photographs (JPEG, opaque WebP), PNG for the rest (screenshots stay
// sharp, transparency stays). An image that does not decode is refused.
func makePreview(ctx context.Context, store Store, s *Stored) error {
	f, err := store.Open(ctx, s.Key)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := decode(s.Kind.Name, bufio.NewReader(f))
	if err != nil {
		return &Refusal{Reason: ReasonImage}
	}
	img = downscale(img, PreviewSide)
	var buf bytes.Buffer
	if s.Kind.Name == "jpeg" || (s.Kind.Name == "webp" && isOpaque(img)) {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	if err != nil {
		return fmt.Errorf("evidence: encode preview: %w", err)
	}
	key := PreviewKey(s.Key)
	if _, err := store.Put(ctx, key, &buf); err != nil {
		return err
	}
	s.PreviewKey = key
	return nil
}

// downscale fits img in side × side, keeping its proportions.
func downscale(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		// Copied anyway so that the encoder never sees the source's
		// colour model quirks (paletted GIFs, CMYK JPEGs).
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
		return dst
	}
	if w >= h {
		h = max(1, h*side/w)
		w = side
	} else {
		w = max(1, w*side/h)
		h = side
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
