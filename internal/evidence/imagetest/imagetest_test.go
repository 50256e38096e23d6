package imagetest_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"violet/internal/evidence/imagetest"
)

// TestPNG16 checks the hand-assembled zlib stream: images of several sizes
// (one segment, several, a remainder) decode in full, checksum included,
// to 16-bit RGBA of the right size; the image stays a small file.
func TestPNG16(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {301, 77}, {2000, 700}} {
		img, err := png.Decode(bytes.NewReader(imagetest.PNG16(size[0], size[1])))
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if _, ok := img.(*image.NRGBA64); !ok || img.Bounds() != image.Rect(0, 0, size[0], size[1]) {
			t.Fatalf("%v: decoded %T of %v", size, img, img.Bounds())
		}
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(imagetest.PNG16(12000, 3333)))
	if err != nil || cfg.Width != 12000 || cfg.Height != 3333 {
		t.Fatalf("12000 × 3333: %+v, %v", cfg, err)
	}
	if n := len(imagetest.PNG16(12000, 3333)); n > 400<<10 {
		t.Errorf("12000 × 3333 is a file of %d bytes, want a few hundred KB", n)
	}
}
