package evidence_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/evidence"
	msn "violet/internal/mission"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// flowWorld is a mission with a member of each role, one test released to
// blue, and the evidence workflows over a directory store.
type flowWorld struct {
	db      *sql.DB
	client  *ent.Client
	dir     string
	svc     *evidence.Service
	mission uuid.UUID
	test    uuid.UUID
	users   map[string]uuid.UUID
}

var flowPerms = map[string][]auth.Permission{
	"lead":     {auth.MissionRead, auth.MissionTestRedWrite, auth.EvidenceUpload},
	"red":      {auth.MissionRead, auth.MissionTestRedWrite, auth.EvidenceUpload},
	"blue":     {auth.MissionRead, auth.MissionTestBlueWrite, auth.EvidenceUpload},
	"observer": {auth.MissionRead},
	"outsider": {auth.MissionRead, auth.MissionTestRedWrite, auth.EvidenceUpload},
}

func newFlowWorld(t *testing.T) *flowWorld {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	w := &flowWorld{db: db, client: client, dir: t.TempDir(), users: map[string]uuid.UUID{}}
	for role := range flowPerms {
		w.users[role] = client.User.Create().SetEmail(role + "@example.com").SetDisplayName(role).SetPasswordHash("x").SaveX(sys).ID
	}
	w.mission = client.Mission.Create().SetName("Operation Violet").SetStatus(mission.StatusInProgress).SaveX(sys).ID
	for _, role := range []string{"lead", "red", "blue", "observer"} {
		client.MissionMember.Create().SetMissionID(w.mission).SetUserID(w.users[role]).SetRole(missionmember.Role(role)).ExecX(sys)
	}
	w.test = client.MissionTest.Create().SetMissionID(w.mission).SetName("Dump LSASS").SetReleasedToBlue(true).SaveX(sys).ID
	w.svc = evidence.NewService(evidence.Deps{Ent: client, Store: evidence.NewDir(w.dir)})
	return w
}

func (w *flowWorld) as(role string) context.Context {
	var codes []string
	for _, p := range flowPerms[role] {
		codes = append(codes, string(p))
	}
	return auth.NewContext(context.Background(),
		auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, codes))
}

func (w *flowWorld) ref(file uuid.UUID) evidence.Ref {
	return evidence.Ref{Mission: w.mission, Test: w.test, File: file}
}

func (w *flowWorld) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *flowWorld) storeFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// upload runs a whole upload of text files as role, discarding what it
// stored unless it committed.
func (w *flowWorld) upload(t *testing.T, role, side string, files map[string]string, captions ...string) (*evidence.Upload, *evidence.Committed, error) {
	t.Helper()
	ctx := w.as(role)
	up, err := w.svc.BeginUpload(ctx, w.ref(uuid.Nil))
	if err != nil {
		return nil, nil, err
	}
	defer up.Discard(ctx)
	for name, body := range files {
		if err := up.Add(ctx, name, strings.NewReader(body)); err != nil && !errors.As(err, new(*evidence.Refusal)) {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	for _, c := range captions {
		up.AddCaption(c)
	}
	up.SetSide(side)
	res, err := up.Commit(ctx)
	return up, res, err
}

// TestUploadWorkflow: an upload commits its rows with their audit
// records and the test's live event; who may upload, on which side; a
// refused or empty upload writes nothing and leaves no file.
func TestUploadWorkflow(t *testing.T) {
	w := newFlowWorld(t)
	_, res, err := w.upload(t, "red", "blue", map[string]string{"run.log": "whoami\n"}, "  Command output ")
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0]
	if len(res.Files) != 1 || res.Bytes != 7 || f.Side != "red" || f.Caption != "Command output" || f.UploadedByID != w.users["red"] {
		t.Fatalf("committed %+v (%d bytes), want one red file with its caption", f, res.Bytes)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'evidence.uploaded' AND target_type = 'evidence_file'
		AND target_id = $1 AND actor_id = $2 AND details->>'side' = 'red' AND details->>'test' = 'Dump LSASS'`, f.ID.String(), w.users["red"]); n != 1 {
		t.Errorf("%d upload audit records", n)
	}
	if n := w.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test' AND test_id = $1`, w.test); n != 1 {
		t.Errorf("%d live events", n)
	}
	if _, res, err := w.upload(t, "lead", "blue", map[string]string{"alert.txt": "seen"}); err != nil || res.Files[0].Side != "blue" {
		t.Errorf("the lead picks blue on a released test: %v", err)
	}

	for _, tc := range []struct {
		role  string
		files map[string]string
		key   string
	}{
		{"red", map[string]string{"ok.txt": "fine", "evil.svg": "<svg/>"}, "evidence.refused_all"},
		{"red", nil, "evidence.no_file"},
		{"blue", map[string]string{"long.txt": "x"}, "evidence.refused_all"}, // its caption is too long
	} {
		before := w.storeFiles(t)
		var captions []string
		if tc.role == "blue" {
			captions = []string{strings.Repeat("é", 2000)}
		}
		up, _, err := w.upload(t, tc.role, "", tc.files, captions...)
		var invalid *app.Invalid
		if !errors.As(err, &invalid) || invalid.Key != tc.key || len(up.Refused()) == 0 && tc.key != "evidence.no_file" {
			t.Errorf("%v: %v, want %s with the refusals", tc.files, err, tc.key)
		}
		if after := w.storeFiles(t); after != before {
			t.Errorf("%v: the store went from %d to %d files", tc.files, before, after)
		}
	}
	if n := w.count(t, `SELECT count(*) FROM evidence_files`); n != 2 {
		t.Errorf("%d rows, want the two committed", n)
	}

	for role, want := range map[string]error{"observer": msn.ErrForbidden, "outsider": nil} {
		_, err := w.svc.BeginUpload(w.as(role), w.ref(uuid.Nil))
		if want != nil && !errors.Is(err, want) || want == nil && !ent.IsNotFound(err) {
			t.Errorf("%s begins an upload: %v", role, err)
		}
	}
	w.client.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusArchived).ExecX(rule.SystemContext(context.Background()))
	if _, err := w.svc.BeginUpload(w.as("red"), w.ref(uuid.Nil)); !errors.Is(err, msn.ErrReadOnly) {
		t.Errorf("upload to an archived mission: %v", err)
	}
}

// TestDownloadDeleteWorkflow: a download is audited when asked to; a
// file is deleted (softly) by its uploader, not by another member, with
// its audit record and live event, and is then not found; bytes missing
// from the store are not found too.
func TestDownloadDeleteWorkflow(t *testing.T) {
	w := newFlowWorld(t)
	_, res, err := w.upload(t, "red", "", map[string]string{"run.log": "whoami\n"})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0]
	for _, record := range []bool{true, false} {
		got, err := w.svc.Download(w.as("observer"), w.ref(f.ID), record)
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		if !strings.HasPrefix(got.ContentType, "text/plain") || got.Length != 7 {
			t.Errorf("download %q of %d bytes", got.ContentType, got.Length)
		}
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'evidence.downloaded' AND target_id = $1`, f.ID.String()); n != 1 {
		t.Errorf("%d download records, want the one asked for", n)
	}
	if _, err := w.svc.Preview(w.as("red"), w.ref(f.ID)); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("preview of a log: %v", err)
	}

	if _, err := w.svc.Delete(w.as("blue"), w.ref(f.ID)); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("blue deletes red's file: %v", err)
	}
	if _, err := w.svc.Delete(w.as("red"), w.ref(f.ID)); err != nil {
		t.Fatal(err)
	}
	if got := w.client.EvidenceFile.GetX(schema.SkipSoftDelete(rule.SystemContext(context.Background())), f.ID); got.DeletedAt == nil {
		t.Error("not soft-deleted")
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'evidence.deleted' AND target_id = $1`, f.ID.String()); n != 1 {
		t.Errorf("%d delete records", n)
	}
	if n := w.count(t, `SELECT count(*) FROM live_events WHERE kind = 'test' AND test_id = $1`, w.test); n != 2 {
		t.Errorf("%d live events, want the upload's and the delete's", n)
	}
	if _, err := w.svc.Download(w.as("red"), w.ref(f.ID), true); !ent.IsNotFound(err) {
		t.Errorf("download of a deleted file: %v", err)
	}

	_, res, err = w.upload(t, "red", "", map[string]string{"gone.txt": "x"})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(w.dir + "/" + res.Files[0].StoredKey)
	if _, err := w.svc.Download(w.as("red"), w.ref(res.Files[0].ID), true); !errors.Is(err, app.ErrNotFound) || !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("download of a file missing from the store: %v", err)
	}
}

// TestSweepOrphans: an old file no row names goes; the file of a deleted
// row stays.
func TestSweepOrphans(t *testing.T) {
	w := newFlowWorld(t)
	_, res, err := w.upload(t, "red", "", map[string]string{"kept.txt": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Delete(w.as("red"), w.ref(res.Files[0].ID)); err != nil {
		t.Fatal(err)
	}
	orphan := evidence.NewKey()
	os.WriteFile(w.dir+"/"+orphan, []byte("x"), 0o600)
	old := time.Now().Add(-2 * evidence.SweepAge)
	for _, k := range []string{orphan, res.Files[0].StoredKey} {
		os.Chtimes(w.dir+"/"+k, old, old)
	}
	if n, err := w.svc.SweepOrphans(context.Background()); err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want the orphan", n, err)
	}
	if _, err := os.Stat(w.dir + "/" + res.Files[0].StoredKey); err != nil {
		t.Errorf("the file of a deleted row was swept: %v", err)
	}
}
