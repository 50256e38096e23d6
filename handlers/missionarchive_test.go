package handlers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/testkit/apptest"
)

// postMultipart posts a multipart body as cookie's owner, from the same
// origin.
func postMultipart(app *apptest.App, cookie *http.Cookie, path string, body []byte, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(cookie)
	return app.Do(r)
}

var archiveTokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`)

// TestMissionArchiveThroughTheRouter: the lead downloads the mission's
// archive from its exports (so may a blue member; an outsider may not
// know the mission exists), uploads it to a second Violet, reads the
// summary, imports, and the second Violet's CSV and JSON exports of the
// mission are the first's, byte for byte; a bad archive is refused with
// its reason, and the confirmation cannot be replayed.
func TestMissionArchiveThroughTheRouter(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	src := newMTWorld(t, apptest.WithNow(func() time.Time { return now }))
	dst := apptest.NewWorldOf(t, mtRoles, apptest.WithNow(func() time.Time { return now }))

	// The JSON export lists the instance's whole detection scale: the
	// second Violet has the same one (newMTWorld adds a retired level).
	dst.Ent.DetectionLevel.Create().SetName("Old level").SetScore(10).SetColour("#777777").SetRetired(true).ExecX(dst.Sys())

	test := src.mk(t, missiontest.StateExecuted, true)
	src.Ent.MissionTest.UpdateOneID(test).SetDetectionLevelID(src.level).SetCommand("whoami").ExecX(src.ctx)
	if resp := src.upload(t, "red", test, []evFile{{name: "output.txt", data: []byte("corp\\alice\n")}}); resp.Code != http.StatusSeeOther {
		t.Fatalf("evidence upload: %d %s", resp.Code, resp.Body)
	}
	src.mk(t, missiontest.StatePending, false)

	base := "/missions/" + src.mission.String()
	if page := src.app.GetAs(src.cookies["lead"], base); !strings.Contains(page.Body.String(), `href="`+base+`/export/mission.zip"`) {
		t.Errorf("the mission's exports do not link to the archive (%d)", page.Code)
	}
	for role, status := range map[string]int{"blue": 200, "outsider": 404} {
		if resp := src.app.GetAs(src.cookies[role], base+"/export/mission.zip"); resp.Code != status {
			t.Errorf("%s: archive %d, want %d", role, resp.Code, status)
		}
	}
	resp := src.app.GetAs(src.cookies["lead"], base+"/export/mission.zip")
	if resp.Code != http.StatusOK || resp.Header().Get("Content-Type") != "application/zip" ||
		resp.Header().Get("Content-Disposition") != `attachment; filename="Operation-Violet-mission.zip"` {
		t.Fatalf("archive: %d %v", resp.Code, resp.Header())
	}
	archive := resp.Body.Bytes()

	lead := dst.Cookie("lead")
	if page := dst.GetAs(lead, "/missions"); !strings.Contains(page.Body.String(), `href="/missions/import"`) {
		t.Error("the missions list does not offer the import")
	}
	if page := dst.GetAs(lead, "/missions/import"); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="archive-upload-form"`) {
		t.Fatalf("import form: %d", page.Code)
	}

	// A damaged archive (a byte of a file changed, its CRC no longer
	// matching): refused whole, with the reason and the file.
	bad := bytes.Clone(archive)
	i := bytes.Index(bad, []byte("corp\\alice"))
	bad[i] = 'C'
	body, ct := multipartBody(t, "archive", "mission.zip", bad)
	if page := postMultipart(dst.App, lead, "/missions/import", body, ct); page.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(page.Body.String(), "the archive is damaged") ||
		!strings.Contains(page.Body.String(), "evidence/") {
		t.Errorf("damaged archive: %d %s", page.Code, page.Body)
	}

	body, ct = multipartBody(t, "archive", "mission.zip", archive)
	page := postMultipart(dst.App, lead, "/missions/import", body, ct)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="archive-summary"`) {
		t.Fatalf("summary: %d %s", page.Code, page.Body)
	}
	m := archiveTokenRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatal("no token in the summary")
	}
	// Someone else cannot confirm the lead's upload.
	if resp := dst.PostAs(dst.Cookie("outsider"), "/missions/import/confirm", url.Values{"token": {m[1]}}); resp.Code != http.StatusNotFound {
		t.Errorf("another person's confirmation: %d", resp.Code)
	}
	resp = dst.PostAs(lead, "/missions/import/confirm", url.Values{"token": {m[1]}})
	if resp.Code != http.StatusSeeOther || resp.Header().Get("Location") != base {
		t.Fatalf("import: %d %s", resp.Code, resp.Header().Get("Location"))
	}
	if resp := dst.PostAs(lead, "/missions/import/confirm", url.Values{"token": {m[1]}}); resp.Code != http.StatusNotFound {
		t.Errorf("replayed confirmation: %d", resp.Code)
	}
	if n := dst.Ent.Mission.Query().Where(mission.ImportKey("archive:" + src.mission.String())).CountX(dst.Sys()); n != 1 {
		t.Errorf("%d imported missions", n)
	}

	for _, export := range []string{"/export/tests.csv", "/export/mission.json"} {
		want := src.app.GetAs(src.cookies["lead"], base+export)
		got := dst.GetAs(lead, base+export)
		if got.Code != http.StatusOK || !bytes.Equal(want.Body.Bytes(), got.Body.Bytes()) {
			t.Errorf("%s differs (%d): %s", export, got.Code, firstDiff(want.Body.String(), got.Body.String()))
		}
	}

	// The same archive again: the summary says where it went and offers
	// no import.
	page = postMultipart(dst.App, lead, "/missions/import", body, ct)
	if !strings.Contains(page.Body.String(), `data-testid="archive-already"`) || archiveTokenRE.MatchString(page.Body.String()) {
		t.Errorf("second upload: %d", page.Code)
	}
}

// firstDiff shows where two texts part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-300)
	return "\nwant …" + a[lo:min(len(a), i+100)] + "\n got …" + b[lo:min(len(b), i+100)]
}
