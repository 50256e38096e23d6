package missionarchive_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"violet/ent/evidencefile"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/evidence"
	"violet/internal/missionarchive"
)

// readArchive reads data as an archive, failing the test on a refusal.
func readArchive(t *testing.T, data []byte) *missionarchive.Archive {
	t.Helper()
	arc, err := missionarchive.Read(bytes.NewReader(data), int64(len(data)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return arc
}

// TestImportMapsPeopleByEmailAndLeavesOutStrangers: members and the
// people named on tests are found by e-mail; an e-mail no
// account has is left out and listed, what that person did is kept
// without their name; the importer, not a member, becomes lead; a tool
// is found by name ignoring case, a template by its external reference.
func TestImportMapsPeopleByEmailAndLeavesOutStrangers(t *testing.T) {
	t.Parallel()
	src, dst := newInstance(t), newInstance(t)
	id := sourceMission(t, src)
	gone := src.client.User.Create().SetEmail("gone@example.com").SetPasswordHash("x").SetDisplayName("Gone").SaveX(src.sys)
	src.client.MissionMember.Create().SetMissionID(id).SetUserID(gone.ID).SetRole(missionmember.RoleRed).ExecX(src.sys)
	src.client.MissionTest.Update().Where(missiontest.Name("Macro document")).SetExecutedByID(gone.ID).ExecX(src.sys)

	// Here: the tool in lower case, the template under another name with
	// the same reference.
	dst.client.DefensiveTool.Create().SetName("siem").SetKind("siem").ExecX(dst.sys)
	tpl := dst.client.TestTemplate.Create().SetName("Cradle (renamed here)").SetExternalRef("a1b2c3d4-atomic").SetSource("atomic").SaveX(dst.sys)
	importer := dst.client.User.Create().SetEmail("importer@example.com").SetPasswordHash("x").SetDisplayName("Importer").SaveX(dst.sys)
	dst.users["importer"] = importer.ID

	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	arc := readArchive(t, exportArchive(t, src, "lead", id, now))
	ctx, _ := dst.as(t, "importer", auth.MissionCreate)
	imp, err := dst.service(now).Import(ctx, arc)
	if err != nil {
		t.Fatal(err)
	}
	p := imp.Plan
	if !slices.Equal(p.LeftOut, []string{"gone@example.com"}) || !p.ImporterAdded || len(p.Members) != 4 {
		t.Errorf("plan: left out %v, importer added %v, members %+v", p.LeftOut, p.ImporterAdded, p.Members)
	}
	if got := matches(p.Tools); got != "EDR=created SIEM=found" {
		t.Errorf("tools %s", got)
	}
	if got := matches(p.Templates); got != "PowerShell download cradle=found" {
		t.Errorf("templates %s", got)
	}
	roles := map[string]string{}
	for _, mm := range dst.client.MissionMember.Query().Where(missionmember.MissionID(imp.MissionID)).WithUser().AllX(dst.sys) {
		roles[mm.Edges.User.Email] = string(mm.Role)
	}
	if len(roles) != 5 || roles["lead@example.com"] != "lead" || roles["importer@example.com"] != "lead" || roles["blue@example.com"] != "blue" {
		t.Errorf("members %v", roles)
	}
	macro := dst.client.MissionTest.Query().Where(missiontest.Name("Macro document")).OnlyX(dst.sys)
	if macro.ExecutedByID != nil || macro.StartedAt == nil {
		t.Errorf("the stranger's test: executed by %v, started %v", macro.ExecutedByID, macro.StartedAt)
	}
	cradle := dst.client.MissionTest.Query().Where(missiontest.Name("Encoded PowerShell")).OnlyX(dst.sys)
	if cradle.TestTemplateID == nil || *cradle.TestTemplateID != tpl.ID {
		t.Errorf("template %v, want %s", cradle.TestTemplateID, tpl.ID)
	}
}

// TestImportFromTheSameInstanceIsACopy: an archive imported where its
// mission still is gets ids of its own, and the import key keeps a
// second import out.
func TestImportFromTheSameInstanceIsACopy(t *testing.T) {
	t.Parallel()
	src := newInstance(t)
	id := sourceMission(t, src)
	now := time.Now()
	arc := readArchive(t, exportArchive(t, src, "lead", id, now))
	ctx, _ := src.as(t, "lead", auth.MissionCreate)
	imp, err := src.service(now).Import(ctx, arc)
	if err != nil {
		t.Fatal(err)
	}
	if !imp.Plan.NewIDs || imp.MissionID == id {
		t.Fatalf("imported as %s (new ids %v)", imp.MissionID, imp.Plan.NewIDs)
	}
	if n := src.client.MissionTest.Query().Where(missiontest.MissionID(imp.MissionID)).CountX(src.sys); n != 5 {
		t.Errorf("%d tests in the copy", n)
	}
	if n := src.client.EvidenceFile.Query().CountX(src.sys); n != 8 {
		t.Errorf("%d evidence rows, want 4 + 4", n)
	}
	if _, err := src.service(now).Import(ctx, arc); !errors.Is(err, missionarchive.ErrAlreadyImported) || !errors.Is(err, app.ErrConflict) {
		t.Errorf("second import: %v", err)
	}
}

// TestImportRefusesWholeAndLeavesNothing: a file the evidence checks
// refuse refuses the archive whole: no mission, no row, no stored file.
// Without mission.create nothing is read either.
func TestImportRefusesWholeAndLeavesNothing(t *testing.T) {
	t.Parallel()
	src, dst := newInstance(t), newInstance(t)
	id := sourceMission(t, src)
	// A file the evidence checks refuse (a program, by its name).
	test := src.client.MissionTest.Query().Where(missiontest.Name("Kerberoasting")).OnlyIDX(src.sys)
	src.client.EvidenceFile.Create().SetMissionTestID(test).SetSide(evidencefile.SideRed).SetUploadedByID(src.users["red"]).
		SetOriginalName("tool.exe").SetStoredKey(storeRaw(t, src.store, "MZ binary")).SetContentType("application/octet-stream").
		SetSize(9).SetSha256(shaOf([]byte("MZ binary"))).ExecX(src.sys)
	now := time.Now()
	arc := readArchive(t, exportArchive(t, src, "lead", id, now))

	ctx, _ := dst.as(t, "lead")
	if _, err := dst.service(now).Import(ctx, arc); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("without mission.create: %v", err)
	}
	ctx, _ = dst.as(t, "lead", auth.MissionCreate)
	_, err := dst.service(now).Import(ctx, arc)
	var refused *missionarchive.Refused
	if !errors.As(err, &refused) || refused.Reason != "missionarchive.refused.evidence" || refused.Detail != "tool.exe" {
		t.Fatalf("import: %v", err)
	}
	if n := dst.client.Mission.Query().CountX(dst.sys); n != 0 {
		t.Errorf("%d missions", n)
	}
	var objects int
	dst.store.List(context.Background(), func(evidence.Object) error { objects++; return nil })
	if objects != 0 {
		t.Errorf("%d objects left in the store", objects)
	}
}

// storeRaw puts bytes in a store as they are, under a new key.
func storeRaw(t *testing.T, s evidence.Store, content string) string {
	t.Helper()
	key := evidence.NewKey()
	if _, err := s.Put(context.Background(), key, bytes.NewReader([]byte(content))); err != nil {
		t.Fatal(err)
	}
	return key
}
