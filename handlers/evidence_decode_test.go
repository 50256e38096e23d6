package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"violet/ent/missiontest"
	"violet/internal/evidence/imagetest"
)

// TestEvidenceImageMemory (issue 16, defect 4) through the router: the
// 311 KB 16-bit PNG of 12000 × 3333, within the pixel caps but 320 MB
// decoded, is refused with a message that says why, and nothing is kept;
// a 16-bit image within the budget is accepted, its decode counted at
// 8 bytes a pixel in the server's one budget and given back after.
func TestEvidenceImageMemory(t *testing.T) {
	w := newMTWorld(t)
	test := w.mk(t, missiontest.StateRunning, false)

	body, ct := evMultipart(t, []evFile{{"wide.png", imagetest.PNG16(12000, 3333)}})
	res := w.uploadBody("red", test, bytes.NewReader(body), ct, "HX-Request", "true")
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body.String(), "too much memory") {
		t.Fatalf("the 12000 × 3333 16-bit PNG: status %d, want 422 naming the memory\n%s", res.Code, res.Body)
	}
	if rows, files := w.evidenceRows(t, test), w.storeFiles(t); len(rows) != 0 || len(files) != 0 {
		t.Fatalf("kept %d rows and files %v", len(rows), files)
	}
	if peak := w.app.Decodes.Peak(); peak != 0 {
		t.Errorf("the refused image took %d bytes of the budget: it was decoded", peak)
	}

	const side = 1000 // 8 MB decoded at 8 B/px
	body, ct = evMultipart(t, []evFile{{"square.png", imagetest.PNG16(side, side)}})
	if res := w.uploadBody("red", test, bytes.NewReader(body), ct); res.Code != http.StatusSeeOther {
		t.Fatalf("a 16-bit %d × %d PNG: status %d\n%s", side, side, res.Code, res.Body)
	}
	if rows := w.evidenceRows(t, test); len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	if peak := w.app.Decodes.Peak(); peak < side*side*8 || peak > w.app.Decodes.Size() {
		t.Errorf("the decode held %d bytes of the budget, want at least %d (8 B/px) and at most %d",
			peak, side*side*8, w.app.Decodes.Size())
	}
	if held := w.app.Decodes.Held(); held != 0 {
		t.Errorf("%d bytes of the budget still held after the upload", held)
	}
}
