package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/ent/schema"
	"violet/internal/evidence"
	"violet/internal/evidence/storetest"
	"violet/internal/testkit/apptest"
)

// TestEvidenceS3 runs evidence through the router with the S3 store on
// an in-process S3-compatible service: upload (one file larger than a
// part), download, preview, delete, sweep, and readiness when the
// service goes away. Nothing is written to EVIDENCE_DIR.
func TestEvidenceS3(t *testing.T) {
	t.Parallel()
	clock := &storetest.Clock{}
	cfg, srv := storetest.FakeS3(t, clock)
	store, err := evidence.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newMTWorld(t, apptest.WithEvidence(store))
	w.setEvidenceLimit(t, 64<<20)
	test := w.mk(t, missiontest.StateExecuted, true)

	// The uploads are two hours old for the sweep.
	clock.Set(-2 * time.Hour)
	shot := evPNG(t, 2000, 100)
	logText, _ := io.ReadAll(&generator{n: storetest.SmallPartSize + 1<<20})
	capture := append([]byte("\xd4\xc3\xb2\xa1"), make([]byte, 64)...)
	if res := w.upload(t, "red", test, []evFile{{"shot.png", shot}, {"host.log", logText}, {"dump.pcap", capture}}); res.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d\n%s", res.Code, res.Body)
	}
	rows := w.evidenceRows(t, test)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	byName := map[string]*ent.EvidenceFile{}
	for _, r := range rows {
		byName[r.OriginalName] = r
	}
	img, lg, pcap := byName["shot.png"], byName["host.log"], byName["dump.pcap"]
	if img == nil || lg == nil || pcap == nil {
		t.Fatalf("rows %v", byName)
	}
	for _, f := range []struct {
		name string
		data []byte
		sha  string
	}{{img.OriginalName, shot, img.Sha256}, {lg.OriginalName, logText, lg.Sha256}, {pcap.OriginalName, capture, pcap.Sha256}} {
		if f.sha != sha(f.data) {
			t.Errorf("%s: row SHA-256 %s, want %s", f.name, f.sha, sha(f.data))
		}
	}
	if entries, err := os.ReadDir(w.app.Config.EvidenceDir); err != nil || len(entries) != 0 {
		t.Errorf("EVIDENCE_DIR holds %d entries (%v) with the S3 store", len(entries), err)
	}

	ev := func(id, suffix string) string { return w.url(test, "evidence/"+id+suffix) }
	t.Run("download", func(t *testing.T) {
		for _, tc := range []struct {
			id   string
			data []byte
			typ  string
		}{{img.ID.String(), shot, "image/png"}, {lg.ID.String(), logText, "text/plain; charset=utf-8"}} {
			res := w.app.GetAs(w.cookies["blue"], ev(tc.id, ""))
			if res.Code != http.StatusOK || !bytes.Equal(res.Body.Bytes(), tc.data) {
				t.Fatalf("GET %s: %d, %d bytes, want %d", tc.id, res.Code, res.Body.Len(), len(tc.data))
			}
			h := res.Header()
			if h.Get("Content-Type") != tc.typ || h.Get("Content-Length") != strconv.Itoa(len(tc.data)) ||
				h.Get("Cache-Control") != "private, no-store" || h.Get("Location") != "" {
				t.Errorf("GET %s headers %v", tc.id, h)
			}
		}
		res := w.app.GetAs(w.cookies["observer"], ev(img.ID.String(), "/preview"))
		c, _, err := image.DecodeConfig(bytes.NewReader(res.Body.Bytes()))
		if res.Code != http.StatusOK || err != nil || c.Width != 1600 || c.Height != 80 {
			t.Errorf("preview: %d, %dx%d (%v), want 1600x80", res.Code, c.Width, c.Height, err)
		}
	})

	t.Run("refused and failed uploads leave nothing", func(t *testing.T) {
		before := s3Keys(t, store)
		big := storetest.SmallPartSize + 512<<10 // past the first part
		nul := append(bytes.Repeat([]byte("log line\n"), big/9), 0)
		for _, tc := range []struct {
			name   string
			limit  int64
			files  []evFile
			abort  int
			status int
		}{
			{"over the limit past a part", int64(big), []evFile{{"a.txt", bytes.Repeat([]byte("a"), big+1)}}, 0, http.StatusRequestEntityTooLarge},
			{"NUL past a part", 64 << 20, []evFile{{"b.log", nul}}, 0, http.StatusUnprocessableEntity},
			{"one refused file refuses them all", 64 << 20, []evFile{{"ok.txt", []byte("fine")}, {"evil.svg", []byte("<svg/>")}}, 0, http.StatusUnprocessableEntity},
			{"client aborts past a part", 64 << 20, []evFile{{"c.log", bytes.Repeat([]byte("log line\n"), big/9)}}, big - 1000, http.StatusBadRequest},
		} {
			w.setEvidenceLimit(t, tc.limit)
			var res *httptest.ResponseRecorder
			if tc.abort > 0 {
				body, ct := evMultipart(t, tc.files)
				res = w.uploadBody("red", test, &abortingReader{bytes.NewReader(body[:tc.abort])}, ct)
			} else {
				res = w.upload(t, "red", test, tc.files)
			}
			if res.Code != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, res.Code, tc.status)
			}
			if after := s3Keys(t, store); after != before {
				t.Errorf("%s: the bucket went from %d to %d objects", tc.name, before, after)
			}
		}
		if n := len(w.evidenceRows(t, test)); n != 3 {
			t.Errorf("%d rows, want the 3 of the first upload", n)
		}
		w.setEvidenceLimit(t, 64<<20)
	})

	t.Run("missing object", func(t *testing.T) {
		if err := store.Delete(w.ctx, pcap.StoredKey); err != nil {
			t.Fatal(err)
		}
		if res := w.app.GetAs(w.cookies["red"], ev(pcap.ID.String(), "")); res.Code != http.StatusNotFound {
			t.Errorf("download of a row whose object is gone: %d, want 404", res.Code)
		}
	})

	t.Run("delete and sweep", func(t *testing.T) {
		if res := w.app.PostAs(w.cookies["red"], ev(lg.ID.String(), "/delete"), nil); res.Code != http.StatusSeeOther {
			t.Fatalf("delete: %d", res.Code)
		}
		if w.app.Ent.EvidenceFile.GetX(schema.SkipSoftDelete(w.ctx), lg.ID).DeletedAt == nil {
			t.Fatal("row not soft-deleted")
		}
		orphan, young := evidence.NewKey(), evidence.NewKey()
		for _, k := range []string{orphan, evidence.PreviewKey(orphan)} {
			if _, err := store.Put(w.ctx, k, bytes.NewReader([]byte("x"))); err != nil {
				t.Fatal(err)
			}
		}
		clock.Set(0)
		if _, err := store.Put(w.ctx, young, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		n, err := w.app.SweepEvidence(w.ctx)
		if err != nil || n != 2 {
			t.Fatalf("swept %d (%v), want 2: the orphan and its preview", n, err)
		}
		var left []string
		if err := store.List(w.ctx, func(o evidence.Object) error { left = append(left, o.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{img.StoredKey: true, evidence.PreviewKey(img.StoredKey): true, lg.StoredKey: true, young: true}
		if len(left) != len(want) {
			t.Errorf("left %v, want %v", left, want)
		}
		for _, k := range left {
			if !want[k] {
				t.Errorf("%s left, want %v", k, want)
			}
		}
	})

	t.Run("readyz", func(t *testing.T) {
		ready := func() (int, string) {
			res := w.app.Get("/readyz")
			var body struct{ Evidence string }
			_ = json.Unmarshal(res.Body.Bytes(), &body)
			return res.Code, body.Evidence
		}
		if code, ev := ready(); code != http.StatusOK || ev != "ok" {
			t.Fatalf("readyz = %d, evidence %q; want 200 ok", code, ev)
		}
		srv.Close()
		start := time.Now()
		if code, ev := ready(); code != http.StatusServiceUnavailable || ev != "unusable" {
			t.Fatalf("readyz with the S3 service down = %d, evidence %q; want 503 unusable", code, ev)
		}
		if d := time.Since(start); d > evidence.CheckTimeout+time.Second {
			t.Errorf("readyz took %v with the S3 service down", d)
		}
		ctx, cancel := context.WithTimeout(w.ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := store.Open(ctx, img.StoredKey); err == nil {
			t.Error("Open succeeded with the service down")
		}
	})
}

// TestReadinessEvidenceDir: the directory store is unusable once its
// directory is gone.
func TestReadinessEvidenceDir(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	if res := app.Get("/readyz"); res.Code != http.StatusOK {
		t.Fatalf("readyz = %d %s, want 200", res.Code, res.Body)
	}
	if err := os.Remove(app.Config.EvidenceDir); err != nil {
		t.Fatal(err)
	}
	res := app.Get("/readyz")
	var body struct{ Evidence string }
	if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil || res.Code != http.StatusServiceUnavailable || body.Evidence != "unusable" {
		t.Errorf("readyz without EVIDENCE_DIR = %d %s, want 503 with evidence unusable", res.Code, res.Body)
	}
}

// s3Keys counts the objects of store.
func s3Keys(t *testing.T, store evidence.Store) int {
	t.Helper()
	n := 0
	if err := store.List(context.Background(), func(evidence.Object) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
