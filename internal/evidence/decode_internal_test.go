package evidence

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// TestDecodeCost: the cost counts the bytes a pixel of the real colour
// model takes once decoded (issue 16: the cap assumed 4, a 16-bit PNG
// takes 8), so the 311 KB PNG of 12000 × 3333 costs more than 320 MB.
func TestDecodeCost(t *testing.T) {
	const w, h = 1000, 1000
	preview := int64(2*w*h*4 + 64<<10) // under PreviewSide: a full-size RGBA and its encoding
	pngIHDR := func(interlace byte) []byte {
		head := make([]byte, 33)
		copy(head, "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		head[28] = interlace
		return head
	}
	rows := int64(2 * (w*8 + 1))
	cases := []struct {
		name  string
		kind  string
		model color.Model
		head  []byte
		bpp   float64 // bytes a pixel of the decode, preview and rows apart
	}{
		{"png gray", "png", color.GrayModel, pngIHDR(0), 1},
		{"png gray16", "png", color.Gray16Model, pngIHDR(0), 2},
		{"png paletted", "png", color.Palette{color.Black, color.White}, pngIHDR(0), 1},
		{"png rgba", "png", color.RGBAModel, pngIHDR(0), 4},
		{"png nrgba", "png", color.NRGBAModel, pngIHDR(0), 4},
		{"png rgba64", "png", color.RGBA64Model, pngIHDR(0), 8},
		{"png nrgba64", "png", color.NRGBA64Model, pngIHDR(0), 8},
		{"png nrgba64 interlaced", "png", color.NRGBA64Model, pngIHDR(1), 16},
		{"gif", "gif", color.Palette{color.Black}, nil, 1},
		{"webp lossy", "webp", color.YCbCrModel, []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), 1.5},
		{"webp lossless", "webp", color.NRGBAModel, []byte("RIFF\x00\x00\x00\x00WEBPVP8L"), 8},
		{"webp extended", "webp", color.YCbCrModel, []byte("RIFF\x00\x00\x00\x00WEBPVP8X"), 8},
		{"unknown", "bmp", color.RGBAModel, nil, 8},
	}
	for _, c := range cases {
		got := decodeCost(c.kind, image.Config{ColorModel: c.model, Width: w, Height: h}, c.head)
		want := int64(c.bpp*w*h) + preview
		if c.kind == "png" {
			want += rows
		}
		if got != want {
			t.Errorf("%s: cost %d, want %d (%.1f B/px)", c.name, got, want, c.bpp)
		}
	}

	big := decodeCost("png", image.Config{ColorModel: color.NRGBA64Model, Width: 12000, Height: 3333}, pngIHDR(0))
	if big < 12000*3333*8 || big <= DefaultDecodeBudget {
		t.Errorf("the 16-bit 12000 × 3333 PNG costs %d, want at least %d and over the default budget", big, 12000*3333*8)
	}
}

// TestDecodeCostJPEG: the frame header gives the sampling and whether
// the coefficients of a progressive image are kept (4 B a sample).
func TestDecodeCostJPEG(t *testing.T) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewYCbCr(image.Rect(0, 0, 64, 64), image.YCbCrSubsampleRatio420), nil); err != nil {
		t.Fatal(err)
	}
	prog, comps, ok := jpegFrame(b.Bytes())
	if !ok || prog || len(comps) != 3 || comps[0] != [2]int{2, 2} || comps[1] != [2]int{1, 1} {
		t.Fatalf("frame of a baseline 4:2:0 JPEG: progressive %v, components %v, ok %v", prog, comps, ok)
	}
	sof := func(marker byte, comps ...byte) []byte {
		seg := []byte{0xff, 0xd8, 0xff, marker, 0, byte(8 + len(comps)), 8, 0x03, 0xe8, 0x03, 0xe8, byte(len(comps) / 3)}
		return append(seg, comps...)
	}
	const w, h = 1000, 1008 // 1008 rows: whole MCUs of 16 px; 1000 columns round up to 1008
	px := int64(1008 * 1008)
	preview := int64(2*w*h*4 + 64<<10)
	cases := []struct {
		name  string
		model color.Model
		head  []byte
		want  int64
	}{
		{"baseline 4:4:4", color.YCbCrModel, sof(0xc0, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0), 0},
		{"baseline 4:2:0", color.YCbCrModel, sof(0xc0, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0), px * 3 / 2},
		{"progressive 4:2:0", color.YCbCrModel, sof(0xc2, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0), px * 3 / 2 * 5},
		{"progressive gray", color.GrayModel, sof(0xc2, 1, 0x11, 0), 0},
		{"adobe rgb", color.RGBAModel, sof(0xc0, 'R', 0x22, 0, 'G', 0x22, 0, 'B', 0x22, 0), px*3 + px*4},
		{"progressive cmyk", color.CMYKModel, sof(0xc2, 1, 0x22, 0, 2, 0x22, 0, 3, 0x22, 0, 4, 0x22, 0), px*4*5 + px*4},
		{"no frame header", color.YCbCrModel, []byte{0xff, 0xd8}, -1},
	}
	for _, c := range cases {
		got := decodeCost("jpeg", image.Config{ColorModel: c.model, Width: w, Height: h}, c.head)
		want := c.want + preview
		switch c.name {
		case "baseline 4:4:4":
			want = int64(1000*1008)*3 + preview // MCUs of 8 px
		case "progressive gray":
			want = int64(1000*1008)*5 + preview
		case "no frame header": // the worst: 4 full progressive components
			want = int64(1000*1008)*4*5 + preview
		}
		if got != want {
			t.Errorf("%s: cost %d, want %d", c.name, got, want)
		}
	}
}
