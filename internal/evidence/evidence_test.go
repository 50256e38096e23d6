package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/internal/evidence"
)

// pngBytes encodes a w × h opaque PNG.
func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{200, 30, 90, 255})
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNGHeader is a valid PNG signature and IHDR claiming w × h pixels,
// with no image data at all: only a decoder would notice.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// jpegWithExif is a JPEG carrying an APP1 Exif segment with a secret in
// it, as a camera's GPS position would be.
func jpegWithExif(t testing.TB, secret string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	payload := append([]byte("Exif\x00\x00"), secret...)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	return append(append(append([]byte{}, raw[:2]...), seg...), raw[2:]...)
}

// recordingStore counts the Puts a store got.
type recordingStore struct {
	evidence.Store
	mu   sync.Mutex
	puts int
}

func (r *recordingStore) Put(ctx context.Context, key string, src io.Reader) (int64, error) {
	r.mu.Lock()
	r.puts++
	r.mu.Unlock()
	return r.Store.Put(ctx, key, src)
}

func files(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

var keyPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestIngest(t *testing.T) {
	photo := pngBytes(t, 3000, 2000)
	exif := jpegWithExif(t, "SECRET-GPS-48.85N")
	cases := []struct {
		name     string
		file     string
		data     []byte
		max      int64
		refused  string // a Refusal reason
		tooLarge bool
		kind     string
		preview  bool
	}{
		{name: "png with preview", file: "screen.png", data: photo, kind: "png", preview: true},
		{name: "jpeg metadata stripped", file: "photo.JPG", data: exif, kind: "jpeg", preview: true},
		{name: "log text", file: "run.log", data: []byte("2026-03-14 powershell -enc … ✓\n"), kind: "text"},
		{name: "csv", file: "hits.csv", data: []byte("a,b\n1,2\n"), kind: "csv"},
		{name: "pcap", file: "cap.pcap", data: append([]byte("\xd4\xc3\xb2\xa1"), make([]byte, 100)...), kind: "pcap"},
		{name: "pcapng", file: "cap.pcapng", data: append([]byte("\x0a\x0d\x0d\x0a"), make([]byte, 100)...), kind: "pcapng"},
		{name: "pdf", file: "report.pdf", data: []byte("%PDF-1.7\n…"), kind: "pdf"},
		{name: "zip kept as is", file: "loot.zip", data: []byte("PK\x03\x04rest"), kind: "zip"},
		{name: "exactly the limit", file: "a.txt", data: bytes.Repeat([]byte("a"), 1000), max: 1000, kind: "text"},
		{name: "one byte over the limit", file: "a.txt", data: bytes.Repeat([]byte("a"), 1001), max: 1000, tooLarge: true},
		{name: "html renamed png", file: "x.png", data: []byte("<!doctype html><script>alert(1)</script>"), refused: evidence.ReasonType},
		{name: "html as text", file: "x.txt", data: []byte("<html><body><script>alert(1)</script>"), refused: evidence.ReasonType},
		{name: "svg", file: "x.svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), refused: evidence.ReasonType},
		{name: "svg renamed txt", file: "x.txt", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), refused: evidence.ReasonType},
		{name: "executable renamed pcap", file: "tool.pcap", data: append([]byte("MZ\x90\x00"), make([]byte, 200)...), refused: evidence.ReasonType},
		{name: "elf renamed log", file: "x.log", data: append([]byte("\x7fELF\x02\x01"), make([]byte, 200)...), refused: evidence.ReasonType},
		{name: "script", file: "x.sh", data: []byte("#!/bin/sh\nrm -rf /\n"), refused: evidence.ReasonType},
		{name: "NUL deep in a text", file: "x.log", data: append(bytes.Repeat([]byte("a"), 400<<10), 0), refused: evidence.ReasonText},
		{name: "bad UTF-8 deep in a text", file: "x.log", data: append(bytes.Repeat([]byte("é"), 300<<10), 0xff, 'a'), refused: evidence.ReasonText},
		{name: "text cut in a rune", file: "x.txt", data: append(bytes.Repeat([]byte("a"), 300<<10), 0xc3), refused: evidence.ReasonText},
		{name: "oversized dimensions", file: "big.png", data: hugePNGHeader(100000, 100000), refused: evidence.ReasonDimensions},
		{name: "corrupt image", file: "bad.png", data: hugePNGHeader(10, 10), refused: evidence.ReasonImage},
		{name: "empty", file: "e.txt", data: nil, refused: evidence.ReasonEmpty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store := &recordingStore{Store: evidence.NewDir(dir)}
			max := tc.max
			if max == 0 {
				max = 50 << 20
			}
			st, err := evidence.Ingest(context.Background(), store, tc.file, bytes.NewReader(tc.data), evidence.Limits{MaxBytes: max})
			var refusal *evidence.Refusal
			switch {
			case tc.tooLarge:
				if !errors.Is(err, evidence.ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge", err)
				}
			case tc.refused != "":
				if !errors.As(err, &refusal) || refusal.Reason != tc.refused {
					t.Fatalf("err = %v, want refusal %s", err, tc.refused)
				}
				if tc.refused == evidence.ReasonDimensions && store.puts != 0 {
					t.Errorf("an image over the caps reached the store (%d puts): refused after reading it", store.puts)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if err != nil {
				if left := files(t, dir); len(left) != 0 {
					t.Errorf("a refused file left %v in the store", left)
				}
				return
			}
			sum := sha256.Sum256(tc.data)
			if st.SHA256 != hex.EncodeToString(sum[:]) || st.Size != int64(len(tc.data)) || st.Kind.Name != tc.kind {
				t.Errorf("stored %+v, want sha %x size %d kind %s", st, sum, len(tc.data), tc.kind)
			}
			if !keyPattern.MatchString(st.Key) || strings.Contains(st.Key, tc.file) {
				t.Errorf("key %q is not random hex", st.Key)
			}
			kept, err := os.ReadFile(filepath.Join(dir, st.Key))
			if err != nil || !bytes.Equal(kept, tc.data) {
				t.Fatalf("original not kept byte for byte (%v)", err)
			}
			want := []string{st.Key}
			if tc.preview {
				if st.PreviewKey != evidence.PreviewKey(st.Key) {
					t.Fatalf("preview key %q", st.PreviewKey)
				}
				want = append(want, st.PreviewKey)
				pv, err := os.ReadFile(filepath.Join(dir, st.PreviewKey))
				if err != nil {
					t.Fatal(err)
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(pv))
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Width > evidence.PreviewSide || cfg.Height > evidence.PreviewSide {
					t.Errorf("preview %dx%d over %d", cfg.Width, cfg.Height, evidence.PreviewSide)
				}
				if tc.kind == "png" && (cfg.Width != 1600 || cfg.Height != 1066) {
					t.Errorf("preview %dx%d, want 1600x1066 (proportions kept)", cfg.Width, cfg.Height)
				}
				if bytes.Contains(pv, []byte("SECRET-GPS")) || bytes.Contains(pv, []byte("Exif")) {
					t.Error("the preview kept the original's metadata")
				}
				if got := evidence.PreviewType(pv); got != "image/"+format {
					t.Errorf("PreviewType = %s, decoded as %s", got, format)
				}
			} else if st.PreviewKey != "" {
				t.Errorf("a %s got a preview", tc.kind)
			}
			if got := files(t, dir); len(got) != len(want) {
				t.Errorf("store holds %v, want %v", got, want)
			}
		})
	}
}

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".png"
	cases := map[string]string{
		"../../etc/passwd.txt":          "passwd.txt",
		`..\..\Windows\win.ini.txt`:     "win.ini.txt",
		"/abs/path/shot.png":            "shot.png",
		"evil\r\nX-Header: 1.txt":       "evilX-Header_ 1.txt",
		"a\x00b.txt":                    "ab.txt",
		"report\u202egnp.exe.txt":       "reportgnp.exe.txt",
		"..":                            "file",
		"":                              "file",
		"  .hidden.log ":                "hidden.log",
		`quote".txt`:                    "quote_.txt",
		"\xff\xfebad.txt":               "bad.txt",
		"capture 2026-03-14 (1).pcapng": "capture 2026-03-14 (1).pcapng",
	}
	for in, want := range cases {
		if got := evidence.SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	got := evidence.SanitizeName(long)
	if len(got) > evidence.NameMax || !strings.HasSuffix(got, ".png") || !strings.HasPrefix(got, "éé") {
		t.Errorf("long name → %q (%d bytes)", got, len(got))
	}
}

// failingReader yields n bytes, then fails like a client gone mid-upload.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestDirPutFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	store := evidence.NewDir(dir)
	ctx := context.Background()
	if _, err := store.Put(ctx, evidence.NewKey(), &failingReader{n: 3 << 20}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := store.Put(cancelled, evidence.NewKey(), strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if left := files(t, dir); len(left) != 0 {
		t.Fatalf("staging files left: %v", left)
	}
	for _, bad := range []string{"../x", "a/b", "", "UPPER", ".."} {
		if _, err := store.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put accepted key %q", bad)
		}
		if _, err := store.Open(ctx, bad); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	key := evidence.NewKey()
	if _, err := store.Put(ctx, key, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	rc, err := store.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "kept" {
		t.Fatalf("read %q", b)
	}
	if err := store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	store := evidence.NewDir(dir)
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	put := func(key string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, key), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, key), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	known, orphan, young := evidence.NewKey(), evidence.NewKey(), evidence.NewKey()
	put(known, old)
	put(evidence.PreviewKey(known), old)
	put(orphan, old)
	put(evidence.PreviewKey(orphan), old)
	put(young, now)
	put(".stage-123456", old)
	put(".stage-999999", now)
	put("README", old) // not a key of the store: left alone
	n, err := evidence.Sweep(ctx, store, func(_ context.Context, keys []string) (map[string]bool, error) {
		return map[string]bool{known: true}, nil
	}, now.Add(-evidence.SweepAge))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".stage-999999", "README", known, evidence.PreviewKey(known), young}
	got := files(t, dir)
	if n != 3 || strings.Join(got, ",") != strings.Join(sorted(want), ",") {
		t.Fatalf("removed %d, left %v, want 3 removed and %v", n, got, sorted(want))
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestIngestWebPAndGIF: WebP (opaque → JPEG preview, transparent → PNG)
// and GIF get previews too, the originals kept byte for byte.
func TestIngestWebPAndGIF(t *testing.T) {
	var g bytes.Buffer
	pal := image.NewPaletted(image.Rect(0, 0, 30, 20), color.Palette{color.Black, color.RGBA{255, 0, 0, 255}})
	if err := gif.Encode(&g, pal, nil); err != nil {
		t.Fatal(err)
	}
	opaque, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := os.ReadFile("testdata/gopher-doc.with-alpha.lossless.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, preview string
		data          []byte
	}{
		{"lossy.webp", "image/jpeg", opaque},
		{"alpha.webp", "image/png", alpha},
		{"anim.gif", "image/png", g.Bytes()},
	} {
		dir := t.TempDir()
		st, err := evidence.Ingest(context.Background(), evidence.NewDir(dir), tc.file, bytes.NewReader(tc.data), evidence.Limits{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		pv, err := os.ReadFile(filepath.Join(dir, st.PreviewKey))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got := evidence.PreviewType(pv); got != tc.preview {
			t.Errorf("%s: preview %s, want %s", tc.file, got, tc.preview)
		}
		if _, _, err := image.Decode(bytes.NewReader(pv)); err != nil {
			t.Errorf("%s: preview does not decode: %v", tc.file, err)
		}
		if kept, _ := os.ReadFile(filepath.Join(dir, st.Key)); !bytes.Equal(kept, tc.data) {
			t.Errorf("%s: original changed", tc.file)
		}
	}
}
