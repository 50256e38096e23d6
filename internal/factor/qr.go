package factor

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// quietZone is the blank margin around a QR code, in modules, that
// scanners need (four by the standard).
const quietZone = 4

// QR is a QR code drawn as one SVG path: Size modules square (margin
// included), Path the dark modules. The view draws it on the server; no
// script, no image file.
type QR struct {
	Size int
	Path string
}

// ViewBox is the SVG viewBox of the code.
func (q QR) ViewBox() string { return "0 0 " + strconv.Itoa(q.Size) + " " + strconv.Itoa(q.Size) }

// QRCode encodes content (the otpauth:// URL) with medium error
// correction, each dark module a unit square of the path, runs of dark
// modules on a row merged into one rectangle.
func QRCode(content string) (QR, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return QR{}, fmt.Errorf("factor: qr code: %w", err)
	}
	b := code.Bounds()
	dark := func(x, y int) bool {
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	var p strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; {
			if !dark(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < b.Max.X && dark(x+run, y) {
				run++
			}
			fmt.Fprintf(&p, "M%d %dh%dv1h-%dz", x-b.Min.X+quietZone, y-b.Min.Y+quietZone, run, run)
			x += run
		}
	}
	return QR{Size: b.Dx() + 2*quietZone, Path: p.String()}, nil
}
