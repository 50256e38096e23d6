package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/backup"
	"violet/internal/config"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// drillWorld is an instance with a mission, a test and evidence uploaded
// through the router by a member of the red team.
type drillWorld struct {
	app     *apptest.App
	mission uuid.UUID
	test    uuid.UUID
	files   map[string][]byte // original name → bytes
	rows    []*ent.EvidenceFile
}

const (
	drillEmail   = "red@example.com"
	drillMission = "Operation Backup Drill"
)

func drillPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newDrillWorld(t *testing.T) *drillWorld {
	t.Helper()
	app := apptest.New(t)
	ctx := rule.SystemContext(context.Background())
	red := app.User(t, drillEmail, "redteam")
	cookie := app.Login(t, drillEmail, apptest.Password)
	w := &drillWorld{app: app, files: map[string][]byte{
		"screenshot.png": drillPNG(t),
		"commands.txt":   []byte("whoami /all\nnet group \"Domain Admins\" /domain\n"),
	}}
	w.mission = app.Ent.Mission.Create().SetName(drillMission).SetStatus(mission.StatusInProgress).SaveX(ctx).ID
	app.Ent.MissionMember.Create().SetMissionID(w.mission).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(ctx)
	w.test = app.Ent.MissionTest.Create().SetMissionID(w.mission).SetName("Dump credentials").
		SetState(missiontest.StateExecuted).SetReleasedToBlue(true).SaveX(ctx).ID

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range []string{"screenshot.png", "commands.txt"} {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(w.files[name])
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, w.testURL("evidence"), &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(cookie)
	if res := app.Do(r); res.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d\n%s", res.Code, res.Body)
	}
	w.rows = app.Ent.EvidenceFile.Query().Where(evidencefile.MissionTestID(w.test)).AllX(ctx)
	if len(w.rows) != 2 {
		t.Fatalf("%d evidence rows after the upload, want 2", len(w.rows))
	}
	return w
}

func (w *drillWorld) testURL(action string) string {
	return "/missions/" + w.mission.String() + "/tests/" + w.test.String() + "/" + action
}

func (w *drillWorld) env() map[string]string {
	return map[string]string{"DATABASE_URL": w.app.Config.DatabaseURL, "EVIDENCE_DIR": w.app.Config.EvidenceDir}
}

// tableCount counts the tables of the database at dbURL outside the
// system schemas.
func tableCount(t *testing.T, dbURL string) int {
	t.Helper()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupRestoreDrill is the drill of issue 9: back up an instance with
// evidence, restore it into a new empty database and an empty evidence
// directory, serve the restored instance, sign in with the original
// password, open the mission and download the evidence byte for byte.
func TestBackupRestoreDrill(t *testing.T) {
	w := newDrillWorld(t)
	dir := filepath.Join(t.TempDir(), "backup")

	stdout, stderr, err := runCmd(t, w.env(), "backup", dir)
	if err != nil {
		t.Fatalf("violet backup: %v\n%s", err, stderr)
	}
	t.Logf("violet backup: %s", stdout)
	// Two originals and the screenshot's preview.
	if !strings.Contains(stdout, "3 evidence objects") {
		t.Errorf("backup summary does not count 3 evidence objects:\n%s", stdout)
	}
	m, err := backup.Verify(dir)
	if err != nil {
		t.Fatalf("the backup does not verify: %v", err)
	}
	if m.VioletVersion != version || m.MigrationRevision == "" {
		t.Errorf("manifest: version %q, migration %q", m.VioletVersion, m.MigrationRevision)
	}

	target := testdb.EmptyURL(t)
	evDir := filepath.Join(t.TempDir(), "restored-evidence") // restore creates it
	stdout, stderr, err = runCmd(t, map[string]string{"DATABASE_URL": target, "EVIDENCE_DIR": evDir}, "restore", dir)
	if err != nil {
		t.Fatalf("violet restore: %v\n%s", err, stderr)
	}
	t.Logf("violet restore: %s%s", stdout, stderr)
	if !strings.Contains(stdout, "3 evidence objects") || !strings.Contains(stdout, "Every evidence file matches its SHA-256") {
		t.Errorf("restore summary:\n%s", stdout)
	}

	app := apptest.New(t, apptest.WithDatabaseURL(target), apptest.WithConfig(func(c *config.Config) { c.EvidenceDir = evDir }))
	cookie := app.Login(t, drillEmail, apptest.Password)
	res := app.GetAs(cookie, "/missions/"+w.mission.String())
	if res.Code != http.StatusOK || !strings.Contains(res.Body.String(), drillMission) {
		t.Fatalf("restored mission page: %d, mission name shown: %v", res.Code, strings.Contains(res.Body.String(), drillMission))
	}
	for _, row := range w.rows {
		res := app.GetAs(cookie, w.testURL("evidence/"+row.ID.String()))
		if res.Code != http.StatusOK || !bytes.Equal(res.Body.Bytes(), w.files[row.OriginalName]) {
			t.Errorf("download of the restored %s: %d, %d bytes, want the %d original bytes",
				row.OriginalName, res.Code, res.Body.Len(), len(w.files[row.OriginalName]))
		}
	}
	for _, row := range w.rows {
		if row.OriginalName != "screenshot.png" {
			continue
		}
		before := w.app.GetAs(w.app.Login(t, drillEmail, apptest.Password), w.testURL("evidence/"+row.ID.String()+"/preview"))
		after := app.GetAs(cookie, w.testURL("evidence/"+row.ID.String()+"/preview"))
		if after.Code != http.StatusOK || before.Code != http.StatusOK || !bytes.Equal(after.Body.Bytes(), before.Body.Bytes()) {
			t.Errorf("restored preview: %d (%d bytes), original %d (%d bytes)", after.Code, after.Body.Len(), before.Code, before.Body.Len())
		}
	}
}

// TestRestoreRefusesCorruptedObject: one flipped byte in an evidence file
// of the backup makes restore fail, naming the file, before it changes
// the database or the store.
func TestRestoreRefusesCorruptedObject(t *testing.T) {
	w := newDrillWorld(t)
	dir := filepath.Join(t.TempDir(), "backup")
	if _, stderr, err := runCmd(t, w.env(), "backup", dir); err != nil {
		t.Fatalf("violet backup: %v\n%s", err, stderr)
	}
	key := w.rows[0].StoredKey
	p := filepath.Join(dir, backup.EvidenceDir, key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}

	target := testdb.EmptyURL(t)
	evDir := t.TempDir()
	_, _, err = runCmd(t, map[string]string{"DATABASE_URL": target, "EVIDENCE_DIR": evDir}, "restore", dir)
	if err == nil {
		t.Fatal("restore accepted a corrupted backup")
	}
	for _, want := range []string{"damaged", "nothing was restored", "evidence/" + key + ": SHA-256 mismatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if n := tableCount(t, target); n != 0 {
		t.Errorf("the target database has %d tables after the refused restore, want 0", n)
	}
	if entries, _ := os.ReadDir(evDir); len(entries) != 0 {
		t.Errorf("the evidence directory has %d entries after the refused restore", len(entries))
	}
}

func TestBackupRestoreUsage(t *testing.T) {
	stdout, _, err := runCmd(t, nil, "help")
	if err != nil || !strings.Contains(stdout, "backup DIR") || !strings.Contains(stdout, "restore DIR") {
		t.Errorf("help does not list backup and restore (%v):\n%s", err, stdout)
	}
	for _, cmd := range []string{"backup", "restore"} {
		_, stderr, err := runCmd(t, nil, cmd, "-h")
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "violet "+cmd+" DIR") ||
			!strings.Contains(stderr, "DATABASE_URL") || !strings.Contains(stderr, "EVIDENCE_DIR") {
			t.Errorf("%s -h: %v\n%s", cmd, err, stderr)
		}
		if _, _, err := runCmd(t, nil, cmd); err == nil || !strings.Contains(err.Error(), "usage: violet "+cmd+" DIR") {
			t.Errorf("%s without DIR: %v", cmd, err)
		}
		_, _, err = runCmd(t, nil, cmd, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "EVIDENCE_DIR") {
			t.Errorf("%s without environment: %v, want an error naming the variables", cmd, err)
		}
	}
}
