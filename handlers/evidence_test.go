package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/evidencefile"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/schema"
	"violet/ent/setting"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/evidence"
	"violet/internal/seed"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// evFile is one file of an upload.
type evFile struct {
	name string
	data []byte
}

// evPNG is an opaque w × h PNG.
func evPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// evMultipart builds a multipart body: the field pairs first, then the
// files.
func evMultipart(t testing.TB, files []evFile, fields ...string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		fw, err := mw.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// uploadBody posts body to the test's evidence as role.
func (w *mtWorld) uploadBody(role string, test uuid.UUID, body io.Reader, contentType string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, w.url(test, "evidence"), body)
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if c := w.cookies[role]; c != nil {
		r.AddCookie(c)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return w.app.Do(r)
}

func (w *mtWorld) upload(t testing.TB, role string, test uuid.UUID, files []evFile, fields ...string) *httptest.ResponseRecorder {
	t.Helper()
	body, ct := evMultipart(t, files, fields...)
	return w.uploadBody(role, test, bytes.NewReader(body), ct)
}

// evidenceRows reads a test's evidence rows, deleted ones included.
func (w *mtWorld) evidenceRows(t testing.TB, test uuid.UUID) []*ent.EvidenceFile {
	t.Helper()
	return w.app.Ent.EvidenceFile.Query().Where(evidencefile.MissionTestID(test)).
		Order(evidencefile.ByCreatedAt()).AllX(schema.SkipSoftDelete(w.ctx))
}

// storeFiles lists the evidence directory.
func (w *mtWorld) storeFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(w.app.Config.EvidenceDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func (w *mtWorld) setEvidenceLimit(t testing.TB, n int64) {
	t.Helper()
	ctx := w.ctx
	v := json.RawMessage(strconv.FormatInt(n, 10))
	updated := w.app.Ent.Setting.Update().Where(setting.Key(seed.SettingEvidenceMaxUploadBytes)).SetValue(v).SaveX(ctx)
	if updated == 0 {
		w.app.Ent.Setting.Create().SetKey(seed.SettingEvidenceMaxUploadBytes).SetValue(v).ExecX(ctx)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// abortingReader yields its bytes, then fails like a connection reset.
type abortingReader struct{ r io.Reader }

func (a *abortingReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

var storedKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestEvidenceUpload walks issue 8's upload cases through the router: each
// ends with the rows and the files of the store checked.
func TestEvidenceUpload(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	shot := evPNG(t, 40, 30)
	const limit = 4096
	cases := []struct {
		name    string
		files   []evFile
		fields  []string
		limit   int64
		status  int
		names   []string // rows' original names, in order
		refused string   // a data-testid text fragment of the refusal
		abort   int      // bytes of the body sent before the client goes
	}{
		{name: "two files with captions", files: []evFile{{"shot.png", shot}, {"run.log", []byte("whoami\nnt authority\\system\n")}},
			fields: []string{"caption", "The alert", "caption", "Command output"}, status: http.StatusSeeOther,
			names: []string{"shot.png", "run.log"}},
		{name: "exactly the limit", limit: limit, files: []evFile{{"a.txt", bytes.Repeat([]byte("a"), limit)}},
			status: http.StatusSeeOther, names: []string{"a.txt"}},
		{name: "one byte over the limit", limit: limit, files: []evFile{{"a.txt", bytes.Repeat([]byte("a"), limit+1)}},
			status: http.StatusRequestEntityTooLarge},
		{name: "one byte over a limit past the first bytes", limit: 512 << 10, files: []evFile{{"b.txt", bytes.Repeat([]byte("b"), 512<<10+1)}},
			status: http.StatusRequestEntityTooLarge},
		{name: "body over the limit", limit: limit, files: []evFile{{"a.txt", []byte("a")}, {"b.txt", bytes.Repeat([]byte("b"), 2<<20)}},
			status: http.StatusRequestEntityTooLarge},
		{name: "html renamed png", files: []evFile{{"invoice.png", []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script>")}},
			status: http.StatusUnprocessableEntity, refused: "invoice.png"},
		{name: "executable renamed pcap", files: []evFile{{"capture.pcap", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 600)...)}},
			status: http.StatusUnprocessableEntity, refused: "capture.pcap"},
		{name: "one refused file refuses them all", files: []evFile{{"ok.txt", []byte("fine")}, {"evil.svg", []byte("<svg/>")}},
			status: http.StatusUnprocessableEntity, refused: "evil.svg"},
		{name: "path traversal name", files: []evFile{{"../../../../etc/cron.d/evil.txt", []byte("* * * * * root sh\n")}},
			status: http.StatusSeeOther, names: []string{"evil.txt"}},
		{name: "oversized dimensions", files: []evFile{{"huge.png", hugePNG(200000, 200000)}},
			status: http.StatusUnprocessableEntity, refused: "huge.png"},
		{name: "no file", fields: []string{"caption", "nothing"}, status: http.StatusUnprocessableEntity},
		{name: "client aborts mid-upload", files: []evFile{{"big.log", bytes.Repeat([]byte("log line\n"), 100000)}},
			abort: 300000, status: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			test := w.mk(t, missiontest.StateRunning, false)
			w.setEvidenceLimit(t, orDefault(tc.limit, 50<<20))
			var res *httptest.ResponseRecorder
			if tc.abort > 0 {
				body, ct := evMultipart(t, tc.files, tc.fields...)
				res = w.uploadBody("red", test, &abortingReader{bytes.NewReader(body[:tc.abort])}, ct)
			} else {
				res = w.upload(t, "red", test, tc.files, tc.fields...)
			}
			if res.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", res.Code, tc.status, res.Body)
			}
			rows := w.evidenceRows(t, test)
			if len(rows) != len(tc.names) {
				t.Fatalf("%d rows, want %d", len(rows), len(tc.names))
			}
			files := w.storeFiles(t)
			wantFiles := 0
			for i, r := range rows {
				if r.OriginalName != tc.names[i] {
					t.Errorf("row %d named %q, want %q", i, r.OriginalName, tc.names[i])
				}
				if !storedKey.MatchString(r.StoredKey) || r.Side != evidencefile.SideRed || r.UploadedByID != w.users["red"] {
					t.Errorf("row %+v", r)
				}
				var sent []byte
				for _, f := range tc.files {
					if strings.HasSuffix(f.name, r.OriginalName) {
						sent = f.data
					}
				}
				kept, err := os.ReadFile(filepath.Join(w.app.Config.EvidenceDir, r.StoredKey))
				if err != nil || !bytes.Equal(kept, sent) || r.Sha256 != sha(sent) || r.Size != int64(len(sent)) {
					t.Errorf("%s: file not kept as sent (%v)", r.OriginalName, err)
				}
				wantFiles++
				if strings.HasPrefix(r.ContentType, "image/") {
					wantFiles++ // its preview
				}
			}
			if tc.name == "two files with captions" {
				if loc := res.Header().Get("Location"); loc != w.url(test, "evidence") {
					t.Errorf("redirected to %q, want the evidence page (where a form without JavaScript lives)", loc)
				}
				if rows[0].Caption != "The alert" || rows[1].Caption != "Command output" || rows[0].ContentType != "image/png" {
					t.Errorf("captions or types: %+v", rows)
				}
				n := w.app.Ent.AuditEvent.Query().Where(auditevent.Action("evidence.uploaded"), auditevent.ActorID(w.users["red"])).CountX(w.ctx)
				if n < 2 {
					t.Errorf("%d upload audit events", n)
				}
			}
			if len(files) != wantFiles {
				t.Errorf("store holds %v, want %d files (no staging file, nothing refused)", files, wantFiles)
			}
			for _, f := range files {
				if strings.Contains(f, "evil") || strings.Contains(f, "cron") {
					t.Errorf("a stored name derives from the upload's: %s", f)
				}
			}
			if tc.refused != "" {
				d := doc(t, res)
				if got := testid(d, "evidence-refused"); !strings.Contains(got, tc.refused) {
					t.Errorf("refusal %q does not name %s", got, tc.refused)
				}
			}
			// Clean the store between cases (rows stay, on their own tests).
			for _, r := range rows {
				os.Remove(filepath.Join(w.app.Config.EvidenceDir, r.StoredKey))
				os.Remove(filepath.Join(w.app.Config.EvidenceDir, evidence.PreviewKey(r.StoredKey)))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(w.app.Config.EvidenceDir), "etc")); err == nil {
		t.Error("a file escaped the evidence directory")
	}
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// hugePNG is a PNG header claiming w × h pixels and nothing else.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{0, 0, 0, 13, 'I', 'H', 'D', 'R',
		byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w),
		byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h), 8, 6, 0, 0, 0}
	b.Write(ihdr)
	sum := crc32.ChecksumIEEE(ihdr[4:])
	b.Write([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	return b.Bytes()
}

// TestEvidenceRoles: the side follows the uploader's role; observers,
// people who are not members and blue members on unreleased tests attach
// nothing; an archived mission takes nothing.
func TestEvidenceRoles(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	file := []evFile{{"note.txt", []byte("seen")}}
	cases := []struct {
		role     string
		released bool
		side     string // what the form asks
		status   int
		want     evidencefile.Side
	}{
		{"lead", true, "", http.StatusSeeOther, evidencefile.SideRed},
		{"lead", true, "blue", http.StatusSeeOther, evidencefile.SideBlue},
		{"lead", false, "blue", http.StatusSeeOther, evidencefile.SideRed}, // blue only once released
		{"red", true, "", http.StatusSeeOther, evidencefile.SideRed},
		{"red", true, "blue", http.StatusSeeOther, evidencefile.SideRed}, // red may not write blue
		{"blue", true, "", http.StatusSeeOther, evidencefile.SideBlue},
		{"blue", true, "red", http.StatusSeeOther, evidencefile.SideBlue},
		{"blue", false, "", http.StatusNotFound, ""}, // the test does not exist for blue
		{"observer", true, "", http.StatusForbidden, ""},
		{"outsider", true, "", http.StatusNotFound, ""},
		{"admin", true, "", http.StatusForbidden, ""}, // reads every mission, attaches to none it is not on
	}
	for _, tc := range cases {
		t.Run(tc.role+"/released="+strconv.FormatBool(tc.released)+"/side="+tc.side, func(t *testing.T) {
			test := w.mk(t, missiontest.StateExecuted, tc.released)
			var fields []string
			if tc.side != "" {
				fields = []string{"side", tc.side}
			}
			res := w.upload(t, tc.role, test, file, fields...)
			if res.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", res.Code, tc.status, res.Body)
			}
			rows := w.evidenceRows(t, test)
			if tc.want == "" {
				if len(rows) != 0 {
					t.Fatalf("%d rows written", len(rows))
				}
				return
			}
			if len(rows) != 1 || rows[0].Side != tc.want || rows[0].UploadedByID != w.users[tc.role] {
				t.Fatalf("rows %+v, want one on the %s side", rows, tc.want)
			}
		})
	}
	t.Run("archived mission", func(t *testing.T) {
		test := w.mk(t, missiontest.StateExecuted, true)
		w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusArchived).ExecX(w.ctx)
		defer w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusInProgress).ExecX(w.ctx)
		if res := w.upload(t, "red", test, file); res.Code != http.StatusConflict {
			t.Fatalf("status %d, want 409", res.Code)
		}
		if n := len(w.evidenceRows(t, test)); n != 0 {
			t.Fatalf("%d rows on an archived mission", n)
		}
		f := w.app.Ent.EvidenceFile.Create().SetMissionTestID(test).SetSide("red").SetUploadedByID(w.users["red"]).
			SetOriginalName("kept.txt").SetStoredKey(evidence.NewKey()).SetContentType("text/plain").SetSize(1).
			SetSha256(sha([]byte("x"))).SaveX(w.ctx)
		if res := w.app.PostAs(w.cookies["lead"], w.url(test, "evidence/"+f.ID.String()+"/delete"), nil); res.Code != http.StatusConflict {
			t.Fatalf("delete on an archived mission: %d, want 409", res.Code)
		}
		if got := w.app.Ent.EvidenceFile.GetX(schema.SkipSoftDelete(w.ctx), f.ID); got.DeletedAt != nil {
			t.Fatal("deleted on an archived mission")
		}
	})
}

// TestEvidenceDownload checks the download and preview headers, that
// evidence is reached only through its own mission and test, the delete
// rules, and that deleted evidence is a 404 everywhere.
func TestEvidenceDownload(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	test := w.mk(t, missiontest.StateExecuted, true)
	shot := evPNG(t, 2000, 100)
	if res := w.upload(t, "red", test, []evFile{{"../Évidence 1.png", shot}, {"dump.pcap", append([]byte("\xd4\xc3\xb2\xa1"), make([]byte, 64)...)}},
		"caption", "Alert <b>fired</b>"); res.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d\n%s", res.Code, res.Body)
	}
	rows := w.evidenceRows(t, test)
	img, pcap := rows[0], rows[1]
	ev := func(f *ent.EvidenceFile, suffix string) string { return w.url(test, "evidence/"+f.ID.String()+suffix) }

	t.Run("download headers", func(t *testing.T) {
		for _, role := range []string{"lead", "red", "blue", "observer", "admin"} {
			res := w.app.GetAs(w.cookies[role], ev(img, ""))
			if res.Code != http.StatusOK {
				t.Fatalf("%s: status %d", role, res.Code)
			}
			h := res.Header()
			want := map[string]string{
				"Content-Type":            "image/png",
				"Content-Disposition":     `attachment; filename="_vidence 1.png"; filename*=UTF-8''%C3%89vidence%201.png`,
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": "default-src 'none'; sandbox",
				"Cache-Control":           "private, no-store",
				"Content-Length":          strconv.Itoa(len(shot)),
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %s = %q, want %q", role, k, got, v)
				}
			}
			if !bytes.Equal(res.Body.Bytes(), shot) {
				t.Errorf("%s: body is not the original", role)
			}
		}
		if n := w.app.Ent.AuditEvent.Query().Where(auditevent.Action("evidence.downloaded"), auditevent.TargetID(img.ID.String())).CountX(w.ctx); n != 5 {
			t.Errorf("%d download audit events, want 5", n)
		}
		if res := w.app.GetAs(w.cookies["outsider"], ev(img, "")); res.Code != http.StatusNotFound {
			t.Errorf("outsider: %d", res.Code)
		}
		if res := w.app.GetAs(nil, ev(img, "")); res.Code != http.StatusSeeOther {
			t.Errorf("anonymous: %d", res.Code)
		}
	})
	t.Run("preview", func(t *testing.T) {
		res := w.app.GetAs(w.cookies["observer"], ev(img, "/preview"))
		if res.Code != http.StatusOK {
			t.Fatalf("status %d", res.Code)
		}
		h := res.Header()
		if ct := h.Get("Content-Type"); ct != "image/jpeg" && ct != "image/png" {
			t.Errorf("Content-Type %q", ct)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "inline; ") {
			t.Errorf("headers %v", h)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(res.Body.Bytes()))
		if err != nil || cfg.Width != 1600 || cfg.Height != 80 {
			t.Errorf("preview %dx%d (%v), want 1600x80", cfg.Width, cfg.Height, err)
		}
		if res := w.app.GetAs(w.cookies["red"], ev(pcap, "/preview")); res.Code != http.StatusNotFound {
			t.Errorf("preview of a capture: %d", res.Code)
		}
	})
	t.Run("another mission's or test's id", func(t *testing.T) {
		other := w.app.Ent.EvidenceFile.Create().SetMissionTestID(w.otherTst).SetSide("red").SetUploadedByID(w.users["red"]).
			SetOriginalName("other.txt").SetStoredKey(evidence.NewKey()).SetContentType("text/plain").SetSize(1).
			SetSha256(sha([]byte("x"))).SaveX(w.ctx)
		sibling := w.mk(t, missiontest.StateExecuted, true)
		paths := []string{
			w.url(test, "evidence/"+other.ID.String()),
			w.url(test, "evidence/"+other.ID.String()+"/preview"),
			"/missions/" + w.other.String() + "/tests/" + w.otherTst.String() + "/evidence/" + img.ID.String(),
			w.url(sibling, "evidence/"+img.ID.String()),
			w.url(test, "evidence/not-a-uuid"),
		}
		for _, p := range paths {
			if res := w.app.GetAs(w.cookies["lead"], p); res.Code != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, res.Code)
			}
		}
		res := w.app.PostAs(w.cookies["lead"], w.url(test, "evidence/"+other.ID.String()+"/delete"), nil)
		if res.Code != http.StatusNotFound {
			t.Errorf("delete through the wrong mission: %d", res.Code)
		}
	})
	t.Run("list", func(t *testing.T) {
		page := w.app.GetAs(w.cookies["blue"], w.url(test, ""))
		if page.Code != http.StatusOK || doc(t, page).Find(`[data-testid="mission-test-evidence-slot"]`).Length() != 1 {
			t.Fatalf("test page: %d, no evidence slot", page.Code)
		}
		res := w.app.GetAs(w.cookies["blue"], w.url(test, "evidence"), "HX-Request", "true")
		d := doc(t, res)
		if res.Code != http.StatusOK || d.Find(`[data-testid="evidence-item"]`).Length() != 2 {
			t.Fatalf("section: %d\n%s", res.Code, res.Body)
		}
		if d.Find("html").Length() != 0 && strings.Contains(res.Body.String(), "<html") {
			t.Error("htmx got a whole page")
		}
		if got, _ := d.Find(`[data-testid="evidence-thumb"]`).Attr("src"); got != ev(img, "/preview") {
			t.Errorf("thumbnail %q", got)
		}
		if testid(d, "evidence-name") != "Évidence 1.png" || testid(d, "evidence-caption") != "Alert <b>fired</b>" {
			t.Errorf("name %q caption %q", testid(d, "evidence-name"), testid(d, "evidence-caption"))
		}
		if got, _ := d.Find(`[data-testid="evidence-sha256"]`).Attr("data-sha256"); got != sha(shot) {
			t.Errorf("sha %q", got)
		}
		if d.Find(`[data-testid="evidence-delete"]`).Length() != 0 {
			t.Error("blue may delete red's evidence")
		}
		if d.Find(`[data-testid="evidence-upload-form"]`).Length() != 1 || testid(d, "evidence-side-fixed") == "" {
			t.Error("blue has no upload form on a released test")
		}
		full := w.app.GetAs(w.cookies["observer"], w.url(test, "evidence"))
		fd := doc(t, full)
		if full.Code != http.StatusOK || fd.Find(`[data-testid="evidence-back"]`).Length() != 1 ||
			fd.Find(`[data-testid="evidence-upload-form"]`).Length() != 0 || fd.Find(`[data-testid="evidence-delete"]`).Length() != 0 {
			t.Errorf("observer's evidence page: %d", full.Code)
		}
		lead := doc(t, w.app.GetAs(w.cookies["lead"], w.url(test, "evidence"), "HX-Request", "true"))
		if lead.Find(`[data-testid="evidence-delete"]`).Length() != 2 || lead.Find(`[data-testid="evidence-sides"] input`).Length() != 2 {
			t.Error("the lead can neither delete nor choose the side")
		}
	})
	t.Run("delete rules and soft-deleted 404", func(t *testing.T) {
		for _, role := range []string{"observer", "blue"} {
			res := w.app.PostAs(w.cookies[role], ev(pcap, "/delete"), nil)
			if res.Code != http.StatusForbidden {
				t.Errorf("%s deletes: %d", role, res.Code)
			}
		}
		if res := w.app.PostAs(w.cookies["outsider"], ev(pcap, "/delete"), nil); res.Code != http.StatusNotFound {
			t.Errorf("outsider deletes: %d", res.Code)
		}
		res := w.app.PostAs(w.cookies["red"], ev(pcap, "/delete"), nil, "HX-Request", "true")
		if res.Code != http.StatusOK || doc(t, res).Find(`[data-testid="evidence-item"]`).Length() != 1 {
			t.Fatalf("uploader deletes: %d\n%s", res.Code, res.Body)
		}
		if res := w.app.PostAs(w.cookies["lead"], ev(img, "/delete"), nil); res.Code != http.StatusSeeOther {
			t.Fatalf("lead deletes: %d", res.Code)
		}
		for _, f := range []*ent.EvidenceFile{img, pcap} {
			got := w.app.Ent.EvidenceFile.GetX(schema.SkipSoftDelete(w.ctx), f.ID)
			if got.DeletedAt == nil {
				t.Errorf("%s not soft-deleted", f.OriginalName)
			}
			if _, err := os.Stat(filepath.Join(w.app.Config.EvidenceDir, f.StoredKey)); err != nil {
				t.Errorf("the file of a soft-deleted row is gone: %v", err)
			}
			for _, p := range []string{ev(f, ""), ev(f, "/preview")} {
				if res := w.app.GetAs(w.cookies["lead"], p); res.Code != http.StatusNotFound {
					t.Errorf("GET %s after delete: %d", p, res.Code)
				}
			}
			if res := w.app.PostAs(w.cookies["lead"], ev(f, "/delete"), nil); res.Code != http.StatusNotFound {
				t.Errorf("delete again: %d", res.Code)
			}
		}
		if n := w.app.Ent.AuditEvent.Query().Where(auditevent.Action("evidence.deleted")).CountX(w.ctx); n != 2 {
			t.Errorf("%d delete audit events", n)
		}
		d := doc(t, w.app.GetAs(w.cookies["lead"], w.url(test, "evidence"), "HX-Request", "true"))
		if d.Find(`[data-testid="evidence-item"]`).Length() != 0 {
			t.Error("deleted evidence still listed")
		}
	})
}

// TestEvidenceSweep: an old file no row names goes, with its preview; the
// files of rows (deleted ones too) and young files stay.
func TestEvidenceSweep(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	test := w.mk(t, missiontest.StateExecuted, true)
	if res := w.upload(t, "red", test, []evFile{{"a.png", evPNG(t, 10, 10)}}); res.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d", res.Code)
	}
	row := w.evidenceRows(t, test)[0]
	w.app.Ent.EvidenceFile.DeleteOneID(row.ID).ExecX(w.ctx) // soft
	dir := w.app.Config.EvidenceDir
	orphan, young := evidence.NewKey(), evidence.NewKey()
	old := time.Now().Add(-2 * time.Hour)
	for _, k := range []string{orphan, evidence.PreviewKey(orphan), young, row.StoredKey, evidence.PreviewKey(row.StoredKey)} {
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			os.WriteFile(filepath.Join(dir, k), []byte("x"), 0o600)
		}
		if k != young {
			os.Chtimes(filepath.Join(dir, k), old, old)
		}
	}
	n, err := w.app.SweepEvidence(w.ctx)
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want 2", n, err)
	}
	got := strings.Join(w.storeFiles(t), ",")
	for _, k := range []string{young, row.StoredKey, evidence.PreviewKey(row.StoredKey)} {
		if !strings.Contains(got, k) {
			t.Errorf("%s swept", k)
		}
	}
	if strings.Contains(got, orphan) {
		t.Error("orphan kept")
	}

	// The periodic sweep: at once, then until its context ends.
	late := evidence.NewKey()
	os.WriteFile(filepath.Join(dir, late), []byte("x"), 0o600)
	os.Chtimes(filepath.Join(dir, late), old, old)
	ctx, cancel := context.WithTimeout(w.ctx, 300*time.Millisecond)
	defer cancel()
	w.app.SweepEvidenceEvery(ctx, 50*time.Millisecond) // returns when ctx ends
	if _, err := os.Stat(filepath.Join(dir, late)); err == nil {
		t.Error("the periodic sweep kept an orphan")
	}
}

// generator yields n bytes of log text without holding them.
type generator struct{ n int64 }

var genLine = []byte("2026-03-14T09:30:00Z host=ws-042 proc=powershell.exe cmd=\"-enc SQBFAFgA\"\n")

func (g *generator) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && int64(k) < g.n {
		k += copy(p[k:min(len(p), k+int(g.n)-k)], genLine)
	}
	g.n -= int64(k)
	return k, nil
}

// TestEvidenceLargeUploadMemory streams a 200 MB upload from a generator
// through the router and samples the heap meanwhile: it must stay within
// a few MB of where it started (the file is never held in memory).
func TestEvidenceLargeUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	const size = 200 << 20
	w := newMTWorld(t)
	w.setEvidenceLimit(t, 1<<30)
	test := w.mk(t, missiontest.StateRunning, false)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("caption", "a day of logs")
		fw, err := mw.CreateFormFile("file", "day.log")
		if err == nil {
			_, err = io.Copy(fw, &generator{n: size})
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
	)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				mu.Lock()
				peak = max(peak, m.HeapInuse)
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	res := w.uploadBody("red", test, pr, mw.FormDataContentType())
	took := time.Since(start)
	close(done)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if res.Code != http.StatusSeeOther {
		t.Fatalf("status %d\n%s", res.Code, res.Body)
	}
	rows := w.evidenceRows(t, test)
	if len(rows) != 1 || rows[0].Size != size {
		t.Fatalf("rows %+v", rows)
	}
	mu.Lock()
	growth := int64(peak) - int64(base.HeapInuse)
	mu.Unlock()
	t.Logf("200 MB upload in %v (%.0f MB/s): heap in use %.1f MB before, peak %.1f MB (+%.1f MB), allocated %.1f MB in total",
		took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(),
		float64(base.HeapInuse)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20),
		float64(after.TotalAlloc-base.TotalAlloc)/(1<<20))
	if growth > 16<<20 {
		t.Errorf("heap grew by %.1f MB during a 200 MB upload", float64(growth)/(1<<20))
	}
}

// TestBrowserEvidenceUpload is issue 8's browser test: red uploads an image
// with its caption and the progress bar, then two files by drag and drop,
// without a page reload; the report then shows the image inline, and
// printed to PDF by Chromium (saved with a screenshot under the test's
// temporary directory) it has several pages naming the mission and test.
func TestBrowserEvidenceUpload(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	red := app.User(t, "red@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Browser evidence").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(sys)
	tst := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Dump LSASS").SaveX(sys)
	page := base + "/missions/" + m.ID.String() + "/tests/" + tst.ID.String()
	shot := filepath.Join(t.TempDir(), "alert screenshot.png")
	if err := os.WriteFile(shot, evPNG(t, 1400, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	settled := browsertest.Settled()
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="evidence-upload-form"]`)),
		browsertest.Loaded(),
		settled,
		chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1; window.progressSeen = [];
			document.addEventListener("htmx:xhr:progress", function () {
				var bar = document.querySelector("[data-evidence-progress]");
				window.progressSeen.push(bar && !bar.hidden ? bar.value : -1);
			});`),
		chromedp.SetUploadFiles(chromedp.CSS(`#evidence-files`), []string{shot}),
		chromedp.WaitVisible(chromedp.CSS(`#evidence-caption-0`)),
		chromedp.SendKeys(chromedp.CSS(`#evidence-caption-0`), "EDR alert"),
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="evidence-item"] [data-testid="evidence-thumb"]`)),
		settled,
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="evidence-thumb"]').naturalWidth > 0`),
	); err != nil {
		browsertest.Screenshot(t, ctx, "evidence-upload-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "evidence-uploaded")
	// Two files dropped on the zone: a caption field each, both uploaded.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(function () {
			var dt = new DataTransfer();
			dt.items.add(new File(["whoami\n"], "dropped.log", { type: "text/plain" }));
			dt.items.add(new File(["a,b\n1,2\n"], "hits.csv", { type: "text/csv" }));
			var zone = document.querySelector("[data-evidence-drop]");
			zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
			zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
		})()`),
		chromedp.WaitVisible(chromedp.CSS(`#evidence-caption-1`)),
		chromedp.SendKeys(chromedp.CSS(`#evidence-caption-1`), "Hits"),
		chromedp.Click(chromedp.CSS(`[data-testid="evidence-submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-testid="evidence-item"]').length === 3`),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "evidence-drop-failed")
		t.Fatal(err)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.violetMarker === 1`)); !same {
		t.Error("the upload reloaded the page instead of swapping the section")
	}
	seen, _ := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.progressSeen`))
	if len(seen) == 0 || seen[len(seen)-1] != 100 && !containsFloat(seen, 100) {
		t.Errorf("progress bar values %v, want it to reach 100", seen)
	}
	rows := app.Ent.EvidenceFile.Query().Where(evidencefile.MissionTestID(tst.ID)).Order(evidencefile.ByCreatedAt(), evidencefile.ByOriginalName()).AllX(sys)
	if len(rows) != 3 || rows[0].Caption != "EDR alert" || rows[0].OriginalName != "alert screenshot.png" || rows[0].Side != evidencefile.SideRed ||
		rows[1].OriginalName != "dropped.log" || rows[1].Caption != "" || rows[2].OriginalName != "hits.csv" || rows[2].Caption != "Hits" {
		t.Fatalf("rows %+v", rows)
	}

	// The report shows the uploaded image inline (its preview) and lists
	// the other files; printed to PDF it has several pages naming the
	// mission and the test.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/"+m.ID.String()+"/report"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-appendix"]`)),
		chromedp.Poll[chromedp.Void](`(function () {
			var img = document.querySelector('img[src*="/evidence/`+rows[0].ID.String()+`/preview"]');
			return img && img.complete && img.naturalWidth > 0;
		})()`),
	); err != nil {
		browsertest.Screenshot(t, ctx, "evidence-report-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "evidence-report")
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	path := saveArtifact(t, "evidence-report.pdf", pdf)
	if pages := pdfPages(t, path, pdf); pages < 2 {
		t.Errorf("the report printed on %d page(s)", pages)
	}
	if text, ok := pdfText(t, path); ok {
		for _, want := range []string{"Browser evidence", "Dump LSASS", "hits.csv"} {
			if !strings.Contains(text, want) {
				t.Errorf("%q not in the PDF", want)
			}
		}
	}
	for _, e := range console.Errors() {
		t.Errorf("console error: %s", e)
	}
}

func containsFloat(s []float64, v float64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// slowReader hands out its bytes in small pieces with a pause between
// them, like a slow link.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 32<<10)])
}

// TestEvidenceUploadOutlastsRequestTimeout: an upload slower than
// REQUEST_TIMEOUT still completes (the body is bounded by the client, the
// database work after it gets its own deadline).
func TestEvidenceUploadOutlastsRequestTimeout(t *testing.T) {
	app := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.RequestTimeout = 300 * time.Millisecond }))
	sys := rule.SystemContext(context.Background())
	cookie := app.SignedIn(t, "red@example.com", "redteam")
	red := app.Ent.User.Query().OnlyX(sys)
	m := app.Ent.Mission.Create().SetName("Slow link").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(sys)
	tst := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Exfiltrate").SaveX(sys)
	body, ct := evMultipart(t, []evFile{{"exfil.log", bytes.Repeat([]byte("chunk sent\n"), 60000)}})
	r := httptest.NewRequest(http.MethodPost, "/missions/"+m.ID.String()+"/tests/"+tst.ID.String()+"/evidence",
		&slowReader{r: bytes.NewReader(body), pause: 40 * time.Millisecond})
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("HX-Request", "true")
	r.AddCookie(cookie)
	start := time.Now()
	res := app.Do(r)
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the upload took %v: not slower than the timeout, the test proves nothing", took)
	}
	if res.Code != http.StatusOK || !strings.Contains(res.Body.String(), `data-testid="evidence-item"`) {
		t.Fatalf("status %d\n%s", res.Code, res.Body)
	}
	if n := app.Ent.EvidenceFile.Query().Where(evidencefile.MissionTestID(tst.ID)).CountX(sys); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

// TestEvidenceSectionQueries: the evidence section runs as many
// statements for twenty files as for one (uploaders eager-loaded).
func TestEvidenceSectionQueries(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	srv, n := countingServer(t, w.app)
	test := w.mk(t, missiontest.StateExecuted, true)
	add := func(k int) {
		for i := 0; i < k; i++ {
			who := []string{"red", "blue", "lead"}[i%3]
			w.app.Ent.EvidenceFile.Create().SetMissionTestID(test).SetSide("red").SetUploadedByID(w.users[who]).
				SetOriginalName("f" + strconv.Itoa(i) + ".png").SetStoredKey(evidence.NewKey()).SetContentType("image/png").
				SetSize(10).SetSha256(sha([]byte{byte(i)})).ExecX(w.ctx)
		}
	}
	add(1)
	status, one := countQueries(srv, n, w.cookies["lead"], w.url(test, "evidence"))
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	add(19)
	status, twenty := countQueries(srv, n, w.cookies["lead"], w.url(test, "evidence"))
	if status != http.StatusOK || twenty != one {
		t.Fatalf("%d statements for one file, %d for twenty (status %d)", one, twenty, status)
	}
	t.Logf("evidence section: %d statements", one)
}
