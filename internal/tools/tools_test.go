package tools_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/defensivetool"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
	"violet/internal/tools"
	"violet/views/admin"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a migrated database and the context of a viewer holding
// settings.manage and trash.manage.
type world struct {
	client *ent.Client
	svc    *tools.Service
	ctx    context.Context
}

func setup(t *testing.T) *world {
	t.Helper()
	_, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	u := client.User.Create().SetEmail("admin@example.com").SetDisplayName("Admin").SetPasswordHash("x").SaveX(sys)
	v := auth.NewViewer(u.ID, u.Email, "Admin", "en", uuid.New(), nil,
		[]string{string(auth.SettingsManage), string(auth.TrashManage)})
	return &world{client: client, svc: tools.NewService(client), ctx: auth.NewContext(context.Background(), v)}
}

func (w *world) create(t *testing.T, name, kind string, active bool) *ent.DefensiveTool {
	t.Helper()
	if _, err := w.svc.Create(w.ctx, tools.Input{Name: name, Vendor: "Acme", Kind: kind, Active: active}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return w.client.DefensiveTool.Query().Where(defensivetool.Name(name)).OnlyX(w.ctx)
}

// names lists the registry as the admin page shows it.
func (w *world) names(t *testing.T, kind string) string {
	t.Helper()
	l, err := w.svc.List(w.ctx, admin.ToolList{Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range l.Rows {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func (w *world) audits(t *testing.T, action string, id uuid.UUID) int {
	t.Helper()
	return w.client.AuditEvent.Query().Where(auditevent.Action(action), auditevent.TargetID(id.String())).
		CountX(rule.SystemContext(w.ctx))
}

func invalidField(t *testing.T, err error, field, key string) {
	t.Helper()
	var inv *app.Invalid
	if !errors.As(err, &inv) || inv.Fields[field] != key {
		t.Errorf("error %v, want %s on %s", err, key, field)
	}
}

func TestCreateChecksTheForm(t *testing.T) {
	w := setup(t)
	w.create(t, "CrowdStrike Falcon", "edr", true)
	for _, tc := range []struct {
		name       string
		in         tools.Input
		field, key string
	}{
		{"name required", tools.Input{Name: "  ", Kind: "edr"}, "name", "form.required"},
		{"name too long", tools.Input{Name: strings.Repeat("é", 51), Kind: "edr"}, "name", "tools.name_too_long"},
		{"name taken ignoring case", tools.Input{Name: " crowdstrike falcon ", Kind: "edr"}, "name", "tools.name_taken"},
		{"vendor too long", tools.Input{Name: "X", Vendor: strings.Repeat("v", 101), Kind: "edr"}, "vendor", "tools.vendor_too_long"},
		{"kind unknown", tools.Input{Name: "X", Kind: "radar"}, "kind", "tools.kind_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Create(w.ctx, tc.in)
			invalidField(t, err, tc.field, tc.key)
		})
	}
	f, err := w.svc.Create(w.ctx, tools.Input{Name: " CROWDSTRIKE FALCON ", Vendor: "V", Kind: "edr", Active: true})
	if !errors.Is(err, app.ErrInvalid) || f.Clash != "CrowdStrike Falcon" || f.Errors["name"] != "tools.name_taken" {
		t.Errorf("clash %v: form %+v, want the existing tool named", err, f)
	}
	if f.Name != "CROWDSTRIKE FALCON" || f.Vendor != "V" || f.Kind != "edr" || !f.Active {
		t.Errorf("input not kept (trimmed): %+v", f)
	}
	if got := w.names(t, ""); got != "CrowdStrike Falcon" {
		t.Errorf("registry after refusals: %s", got)
	}
}

func TestListActiveFirstAndByKind(t *testing.T) {
	w := setup(t)
	w.create(t, "Zeek", "ndr", true)
	splunk := w.create(t, "Splunk", "siem", true)
	w.create(t, "Defender", "edr", true)
	w.create(t, "Old AV", "av", false)
	if err := w.svc.SetActive(w.ctx, splunk.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := w.names(t, ""); got != "Defender,Zeek,Old AV,Splunk" {
		t.Errorf("registry %s, want active first then by name", got)
	}
	if got := w.names(t, "siem"); got != "Splunk" {
		t.Errorf("siem only: %s", got)
	}
	if got := w.names(t, "bogus"); got != "Defender,Zeek,Old AV,Splunk" {
		t.Errorf("unknown kind lists every kind: %s", got)
	}
	active, err := tools.Active(w.ctx, w.client)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range active {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "Defender,Zeek" {
		t.Errorf("Active %s", got)
	}
	if n := w.audits(t, "tool.deactivated", splunk.ID); n != 1 {
		t.Errorf("%d deactivation events", n)
	}
	// Setting the flag it already has writes nothing.
	if err := w.svc.SetActive(w.ctx, splunk.ID, false); err != nil || w.audits(t, "tool.deactivated", splunk.ID) != 1 {
		t.Errorf("second deactivation: %v", err)
	}
}

func TestUpdateChecksTheVersion(t *testing.T) {
	w := setup(t)
	tl := w.create(t, "Sentinel", "siem", true)
	w.create(t, "Elastic", "siem", true)
	in := tools.Input{Name: "Microsoft Sentinel", Vendor: "Microsoft", Kind: "siem", Active: true, Version: tl.Version}
	if _, err := w.svc.Update(w.ctx, tl.ID, in); err != nil {
		t.Fatal(err)
	}
	got := w.client.DefensiveTool.GetX(w.ctx, tl.ID)
	if got.Name != "Microsoft Sentinel" || got.Vendor != "Microsoft" || got.Version != tl.Version+1 {
		t.Errorf("saved %+v", got)
	}
	if n := w.audits(t, "tool.updated", tl.ID); n != 1 {
		t.Errorf("%d update events", n)
	}
	// The same form again: its version is now stale.
	saved, err := w.svc.Update(w.ctx, tl.ID, tools.Input{Name: "Other", Kind: "siem", Version: tl.Version})
	if !errors.Is(err, app.ErrConflict) || saved.Saved == nil || saved.Saved.Name != "Microsoft Sentinel" ||
		saved.Version != tl.Version+1 || saved.Name != "Other" {
		t.Errorf("stale save: %v, form %+v", err, saved)
	}
	_, err = w.svc.Update(w.ctx, tl.ID, tools.Input{Name: "elastic", Kind: "siem", Version: got.Version})
	invalidField(t, err, "name", "tools.name_taken")
	// Unchanged: nothing written.
	if _, err := w.svc.Update(w.ctx, tl.ID, tools.Input{Name: "Microsoft Sentinel", Vendor: "Microsoft", Kind: "siem",
		Active: true, Version: got.Version}); err != nil {
		t.Fatal(err)
	}
	if n := w.audits(t, "tool.updated", tl.ID); n != 1 {
		t.Errorf("%d update events after an unchanged save", n)
	}
	// Deactivating bumps the version: a form read before is stale.
	if err := w.svc.SetActive(w.ctx, tl.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Update(w.ctx, tl.ID, tools.Input{Name: "X", Kind: "siem", Active: true, Version: got.Version}); !errors.Is(err, app.ErrConflict) {
		t.Errorf("save after a deactivation: %v", err)
	}
}

func TestDeleteAndRestore(t *testing.T) {
	w := setup(t)
	tl := w.create(t, "Proofpoint", "email", true)
	if err := w.svc.Delete(w.ctx, tl.ID); err != nil {
		t.Fatal(err)
	}
	if got := w.names(t, ""); got != "" {
		t.Errorf("registry after delete: %s", got)
	}
	row := w.client.DefensiveTool.Query().Where(defensivetool.ID(tl.ID)).OnlyX(schema.SkipSoftDelete(w.ctx))
	if row.DeletedAt == nil {
		t.Fatal("the tool was not soft-deleted")
	}
	if err := w.svc.Delete(w.ctx, tl.ID); !ent.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	// Its name taken meanwhile (another case): the restore is refused,
	// naming the tool.
	other := w.create(t, "PROOFPOINT", "email", true)
	err := w.svc.Restore(w.ctx, tl.ID)
	if !errors.Is(err, app.ErrConflict) || tools.Clash(err) != "PROOFPOINT" {
		t.Errorf("restore onto a taken name: %v", err)
	}
	if err := w.svc.Delete(w.ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Restore(w.ctx, tl.ID); err != nil {
		t.Fatal(err)
	}
	if got := w.names(t, ""); got != "Proofpoint" {
		t.Errorf("registry after restore: %s", got)
	}
	if err := w.svc.Restore(w.ctx, tl.ID); !ent.IsNotFound(err) {
		t.Errorf("restoring a tool not in the trash: %v", err)
	}
	for _, a := range []string{"tool.created", "tool.deleted", "tool.restored"} {
		if n := w.audits(t, a, tl.ID); n != 1 {
			t.Errorf("%d %s events", n, a)
		}
	}
}

// TestWritesNeedThePermission: the ent policy refuses a viewer without
// settings.manage even past the routes.
func TestWritesNeedThePermission(t *testing.T) {
	w := setup(t)
	v := auth.NewViewer(uuid.New(), "red@example.com", "Red", "en", uuid.New(), nil, []string{string(auth.MissionRead)})
	ctx := auth.NewContext(context.Background(), v)
	if _, err := w.svc.Create(ctx, tools.Input{Name: "Sneaky", Kind: "other"}); err == nil {
		t.Error("a viewer without settings.manage created a tool")
	}
}
