package scale_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/scale"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// world is a migrated, seeded database (the default scale: Blocked,
// Alerted, Logged, Not detected) and an admin's context.
type world struct {
	db     *sql.DB
	client *ent.Client
	svc    *scale.Service
	ctx    context.Context
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	u := client.User.Create().SetEmail("admin@example.com").SetDisplayName("Admin").SetPasswordHash("x").SaveX(sys)
	v := auth.NewViewer(u.ID, u.Email, "Admin", "en", uuid.New(), []string{auth.GroupAdmin}, []string{string(auth.SettingsManage)})
	return &world{db: db, client: client, svc: scale.NewService(client, db), ctx: auth.NewContext(context.Background(), v)}
}

// names is the scale in order.
func (w *world) names(t *testing.T) string {
	t.Helper()
	l, err := w.svc.List(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range l.Rows {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func (w *world) level(t *testing.T, name string) uuid.UUID {
	t.Helper()
	return w.client.DetectionLevel.Query().Where(detectionlevel.Name(name)).OnlyIDX(w.ctx)
}

func (w *world) audits(t *testing.T, action string, id uuid.UUID) int {
	t.Helper()
	return w.client.AuditEvent.Query().Where(auditevent.Action(action), auditevent.TargetID(id.String())).CountX(rule.SystemContext(w.ctx))
}

func TestCreateChecksTheForm(t *testing.T) {
	w := setup(t)
	valid := scale.Input{Name: "Contained", Description: "Stopped", Score: "90", Colour: "#0f766e", CountsAsDetected: true}
	with := func(change func(*scale.Input)) scale.Input {
		in := valid
		change(&in)
		return in
	}
	for _, tc := range []struct {
		name       string
		in         scale.Input
		field, key string
	}{
		{"name required", with(func(in *scale.Input) { in.Name = "" }), "name", "form.required"},
		{"name taken ignoring case", with(func(in *scale.Input) { in.Name = "blocked" }), "name", "admin.detection.name_taken"},
		{"name too long", with(func(in *scale.Input) { in.Name = strings.Repeat("é", 51) }), "name", "admin.detection.name_too_long"},
		{"score required", with(func(in *scale.Input) { in.Score = "" }), "score", "form.required"},
		{"score above 100", with(func(in *scale.Input) { in.Score = "101" }), "score", "admin.detection.score_invalid"},
		{"colour not hex", with(func(in *scale.Input) { in.Colour = "red" }), "colour", "admin.detection.colour_invalid"},
		{"colour CSS injection", with(func(in *scale.Input) { in.Colour = "#fff;}" }), "colour", "admin.detection.colour_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Create(w.ctx, tc.in)
			var inv *app.Invalid
			if !errors.As(err, &inv) || inv.Fields[tc.field] != tc.key {
				t.Fatalf("err %v, want %s: %s", err, tc.field, tc.key)
			}
			if got := w.names(t); got != "Blocked,Alerted,Logged,Not detected" {
				t.Errorf("a refused form changed the scale: %s", got)
			}
		})
	}
	lv, err := w.svc.Create(w.ctx, valid)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.names(t); got != "Blocked,Alerted,Logged,Not detected,Contained" {
		t.Errorf("scale %s: the new level goes last", got)
	}
	if n := w.audits(t, "detection_level.created", lv.ID); n != 1 {
		t.Errorf("%d created events, want 1", n)
	}
}

func TestUpdateAuditsWhatChanged(t *testing.T) {
	w := setup(t)
	id := w.level(t, "Logged")
	f, err := w.svc.Form(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	in := scale.Input{Name: f.Name, Description: f.Description, Score: f.Score, Colour: f.Colour, CountsAsDetected: f.CountsAsDetected}
	if err := w.svc.Update(w.ctx, id, in); err != nil {
		t.Fatal(err)
	}
	if n := w.audits(t, "detection_level.updated", id); n != 0 {
		t.Errorf("an unchanged form recorded %d events", n)
	}
	in.Name, in.Score = "Logged only", "33"
	if err := w.svc.Update(w.ctx, id, in); err != nil {
		t.Fatal(err)
	}
	e := w.client.AuditEvent.Query().Where(auditevent.Action("detection_level.updated"), auditevent.TargetID(id.String())).OnlyX(rule.SystemContext(w.ctx))
	if _, ok := e.Details["name"]; !ok || len(e.Details) != 2 || e.TargetLabel != "Logged only" {
		t.Errorf("event %q %v: want the name and score changes", e.TargetLabel, e.Details)
	}
	in.Name = "Alerted"
	var inv *app.Invalid
	if err := w.svc.Update(w.ctx, id, in); !errors.As(err, &inv) || inv.Fields["name"] != "admin.detection.name_taken" {
		t.Errorf("another level's name: %v", err)
	}
	if err := w.svc.Update(w.ctx, uuid.New(), in); !ent.IsNotFound(err) {
		t.Errorf("missing level: %v", err)
	}
}

func TestMoveRetireDelete(t *testing.T) {
	w := setup(t)
	blocked, logged := w.level(t, "Blocked"), w.level(t, "Logged")
	if err := w.svc.Move(w.ctx, blocked, true); err != nil {
		t.Fatal(err)
	}
	if n := w.audits(t, "detection_level.updated", blocked); n != 0 {
		t.Errorf("moving the first level up recorded %d events", n)
	}
	if err := w.svc.Move(w.ctx, blocked, false); err != nil {
		t.Fatal(err)
	}
	if got := w.names(t); got != "Alerted,Blocked,Logged,Not detected" {
		t.Errorf("after a move down: %s", got)
	}
	if err := w.svc.Move(w.ctx, uuid.New(), false); !ent.IsNotFound(err) {
		t.Errorf("moving a missing level: %v", err)
	}

	for range 2 {
		if err := w.svc.Retire(w.ctx, logged, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.audits(t, "detection_level.updated", logged); n != 1 {
		t.Errorf("retiring twice recorded %d events, want 1", n)
	}

	mission := uuid.New()
	if _, err := w.db.Exec(`INSERT INTO missions (id, name) VALUES ($1, 'M')`, mission); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`INSERT INTO mission_tests (mission_id, name, platforms, detection_level_id)
		VALUES ($1, 'T', '[]', $2)`, mission, logged); err != nil {
		t.Fatal(err)
	}
	l, err := w.svc.List(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Rows {
		want := 0
		if r.ID == logged {
			want = 1
		}
		if r.Uses != want || r.Retired != (r.ID == logged) {
			t.Errorf("%s: %d uses, retired %v", r.Name, r.Uses, r.Retired)
		}
	}
	err = w.svc.Delete(w.ctx, logged)
	if !errors.Is(err, scale.ErrInUse) || !errors.Is(err, app.ErrConflict) {
		t.Errorf("deleting a level in use: %v", err)
	}
	if err := w.svc.Delete(w.ctx, blocked); err != nil {
		t.Fatal(err)
	}
	if n := w.audits(t, "detection_level.deleted", blocked); n != 1 {
		t.Errorf("%d deleted events, want 1", n)
	}
	if err := w.svc.Delete(w.ctx, blocked); !ent.IsNotFound(err) {
		t.Errorf("deleting it again: %v", err)
	}
}

// TestStylesheet: one class per level with a readable text colour, and a
// version that changes with the scale.
func TestStylesheet(t *testing.T) {
	w := setup(t)
	before, err := w.svc.Version(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	light, err := w.svc.Create(w.ctx, scale.Input{Name: "Pale", Score: "10", Colour: "#FFFFE0"})
	if err != nil {
		t.Fatal(err)
	}
	after, err := w.svc.Version(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("version %s unchanged by a new level", after)
	}
	css, err := w.svc.Stylesheet(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(css), "--level-colour"); n != 5 {
		t.Errorf("%d classes, want 5:\n%s", n, css)
	}
	want := ".level-" + light.ID.String() + " { --level-colour: #ffffe0; background-color: #ffffe0; border-color: #ffffe0; color: #000000;"
	if !strings.Contains(string(css), want) {
		t.Errorf("no dark text on the pale level:\n%s", css)
	}
}
