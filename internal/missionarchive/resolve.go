package missionarchive

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/user"
	"violet/internal/auth"
	"violet/internal/database"
	"violet/internal/export"
)

// Plan is what an import would do: the mission, who keeps a role and who
// is left out, and which templates, tools and detection levels are found
// here or created. Preview shows it before the import; Import does it.
type Plan struct {
	MissionName  string
	ReleasedOnly bool // the archive holds only the tests released to blue
	Tests        int
	Categories   int
	Scenarios    int
	Files        int
	Bytes        int64
	Members      []Member // members found here by e-mail, with their role
	// LeftOut lists the e-mails no account here has (members, and people
	// named on tests and files): they are left out; what they did is
	// kept, without their name (a file they uploaded is the importer's).
	LeftOut []string
	// ImporterAdded: the importer is not among the members found and
	// becomes the mission's lead (as when creating a mission), so that
	// they see what they imported.
	ImporterAdded bool
	Templates     []Match
	Tools         []Match
	Levels        []Match
	// NewIDs: the mission's ids already exist here (the archive comes
	// from this instance): the import is a copy with ids of its own.
	NewIDs bool
	// Already is the mission this archive was imported as, if it was.
	Already *AlreadyImported
}

// Member is a member kept.
type Member struct{ Email, Name, Role string }

// Match is a template, tool or detection level the archive names: found
// here by name (or external reference), or Created by the import.
// Unknown tools and levels are created rather than refused: the outcomes
// recorded against them are the mission's results, and an import that
// drops them would not give back the same mission. A created level is
// retired: it keeps the imported results, and the scale offered for new
// ones stays the administrators'.
type Match struct {
	Name    string
	Created bool
}

// resolution is a Plan with the ids it found or will create.
type resolution struct {
	Plan
	users     map[string]*ent.User // by lower-case e-mail
	tools     map[string]uuid.UUID // by lower-case name
	newTools  []newTool
	levels    map[string]uuid.UUID // by name
	newLevels []newLevel
	templates map[string]uuid.UUID       // by templateKey
	newTpls   map[string]*export.DocTest // by templateKey: the first test from it
	importer  uuid.UUID
}

// newTool and newLevel are a tool and a level to create, with their id.
type (
	newTool struct {
		export.DocTool
		id uuid.UUID
	}
	newLevel struct {
		export.DocLevel
		id uuid.UUID
	}
)

// templateKey names a template the archive refers to: its external
// reference when it has one, else its name.
func templateKey(t *export.DocTemplate) string {
	if t.ExternalRef != "" {
		return "ref:" + t.ExternalRef
	}
	return "name:" + t.Name
}

// ImportKey is the import key of the archive's mission.
func (m *Manifest) ImportKey() string { return "archive:" + m.missionID.String() }

// resolve matches what the manifest names against client's rows, as the
// system (the workflow checked the viewer's permission); a handful of
// statements whatever the archive's size.
func resolve(ctx context.Context, client *ent.Client, m *Manifest, viewer *auth.Viewer) (*resolution, error) {
	ctx = schema.SkipSoftDelete(ctx)
	r := &resolution{users: map[string]*ent.User{}, tools: map[string]uuid.UUID{}, levels: map[string]uuid.UUID{},
		templates: map[string]uuid.UUID{}, newTpls: map[string]*export.DocTest{}, importer: viewer.UserID}
	r.MissionName, r.ReleasedOnly = m.Mission.Name, m.ReleasedOnly
	r.Tests, r.Categories, r.Scenarios = len(m.Tests), len(m.Categories), len(m.Scenarios)

	// The mission: imported already, or its ids taken here.
	rows, err := client.Mission.Query().Where(entmission.Or(entmission.ID(m.missionID),
		entmission.And(entmission.ImportKey(m.ImportKey()), entmission.DeletedAtIsNil()))).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("look for the mission: %w", err)
	}
	for _, row := range rows {
		if row.ID == m.missionID {
			r.NewIDs = true
		}
		if row.ImportKey == m.ImportKey() && row.DeletedAt == nil {
			r.Already = &AlreadyImported{MissionID: row.ID.String(), MissionName: row.Name}
		}
	}

	if err := r.resolveUsers(ctx, client, m); err != nil {
		return nil, err
	}
	if err := r.resolveTools(ctx, client, m); err != nil {
		return nil, err
	}
	if err := r.resolveLevels(ctx, client, m); err != nil {
		return nil, err
	}
	if err := r.resolveTemplates(ctx, client, m); err != nil {
		return nil, err
	}
	for i := range m.Tests {
		for _, e := range m.Tests[i].Evidence {
			r.Files++
			r.Bytes += e.Size
		}
	}
	return r, nil
}

// resolveUsers finds every person the manifest names by e-mail (ignoring
// case, as sign-in does).
func (r *resolution) resolveUsers(ctx context.Context, client *ent.Client, m *Manifest) error {
	var emails []string
	add := func(p *export.DocPerson) {
		if p != nil && p.Email != "" {
			emails = append(emails, strings.ToLower(p.Email))
		}
	}
	for _, mm := range m.Members {
		emails = append(emails, strings.ToLower(mm.Email))
	}
	for i := range m.Tests {
		t := &m.Tests[i]
		add(t.Red.ExecutedBy)
		add(t.Review.ReviewedBy)
		for _, e := range t.Evidence {
			add(e.UploadedBy)
		}
	}
	slices.Sort(emails)
	emails = slices.Compact(emails)
	users, err := client.User.Query().Where(predicate.User(func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("lower(" + s.C(user.FieldEmail) + ") = ANY(").Arg(pq.Array(emails)).WriteString(")")
		}))
	}), user.DeletedAtIsNil()).All(ctx)
	if err != nil {
		return fmt.Errorf("find the members: %w", err)
	}
	for _, u := range users {
		r.users[strings.ToLower(u.Email)] = u
	}
	for _, e := range emails {
		if r.users[e] == nil {
			r.LeftOut = append(r.LeftOut, e)
		}
	}
	r.ImporterAdded = true
	for _, mm := range m.Members {
		if u := r.users[strings.ToLower(mm.Email)]; u != nil {
			r.Members = append(r.Members, Member{Email: u.Email, Name: u.DisplayName, Role: mm.Role})
			if u.ID == r.importer {
				r.ImporterAdded = false
			}
		}
	}
	return nil
}

// userOf is the id of the account with p's e-mail, nil when left out.
func (r *resolution) userOf(p *export.DocPerson) *uuid.UUID {
	if p == nil {
		return nil
	}
	if u := r.users[strings.ToLower(p.Email)]; u != nil {
		return &u.ID
	}
	return nil
}

// resolveTools matches the tools in scope and those outcomes name by
// name, ignoring case (the registry's own rule).
func (r *resolution) resolveTools(ctx context.Context, client *ent.Client, m *Manifest) error {
	named := map[string]export.DocTool{}
	var order []string
	note := func(t export.DocTool) {
		k := strings.ToLower(t.Name)
		if _, ok := named[k]; !ok {
			named[k] = t
			order = append(order, k)
		}
	}
	for _, t := range m.Mission.Tools {
		note(t)
	}
	for i := range m.Tests {
		for _, o := range m.Tests[i].Outcomes {
			if o.Tool != nil {
				t := export.DocTool{Name: *o.Tool, Kind: "other"}
				if o.Kind != nil {
					t.Kind = *o.Kind
				}
				note(t)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	tools, err := client.DefensiveTool.Query().Where(defensivetool.DeletedAtIsNil()).All(ctx)
	if err != nil {
		return fmt.Errorf("find the tools: %w", err)
	}
	for _, t := range tools {
		r.tools[strings.ToLower(t.Name)] = t.ID
	}
	for _, k := range order {
		t := named[k]
		_, found := r.tools[k]
		r.Tools = append(r.Tools, Match{Name: t.Name, Created: !found})
		if found {
			continue
		}
		if defensivetool.KindValidator(defensivetool.Kind(t.Kind)) != nil {
			t.Kind = "other"
		}
		id := uuid.New()
		r.tools[k] = id
		r.newTools = append(r.newTools, newTool{DocTool: t, id: id})
	}
	return nil
}

// resolveLevels matches the detection levels the tests and outcomes name
// by name, exactly, then ignoring case.
func (r *resolution) resolveLevels(ctx context.Context, client *ent.Client, m *Manifest) error {
	byName := map[string]export.DocLevel{}
	for _, l := range m.DetectionLevels {
		byName[l.Name] = l
	}
	var order []string
	note := func(name string, detected bool) {
		if slices.Contains(order, name) {
			return
		}
		order = append(order, name)
		if _, ok := byName[name]; !ok {
			byName[name] = export.DocLevel{Name: name, Colour: "#6b7280", CountsAsDetected: detected}
		}
	}
	for i := range m.Tests {
		t := &m.Tests[i]
		if l := t.Blue.DetectionLevel; l != nil {
			if _, ok := byName[l.Name]; !ok {
				byName[l.Name] = *l
			}
			note(l.Name, l.CountsAsDetected)
		}
		for _, o := range t.Outcomes {
			if o.Level != nil {
				note(*o.Level, o.Detected)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	levels, err := client.DetectionLevel.Query().All(ctx)
	if err != nil {
		return fmt.Errorf("find the detection levels: %w", err)
	}
	exact, folded := map[string]uuid.UUID{}, map[string]uuid.UUID{}
	for _, l := range levels {
		exact[l.Name] = l.ID
		folded[strings.ToLower(l.Name)] = l.ID
	}
	for _, name := range order {
		id, ok := exact[name]
		if !ok {
			id, ok = folded[strings.ToLower(name)]
		}
		r.Levels = append(r.Levels, Match{Name: name, Created: !ok})
		if ok {
			r.levels[name] = id
			continue
		}
		l := byName[name]
		if !hexColour(l.Colour) {
			l.Colour = "#6b7280"
		}
		id = uuid.New()
		r.levels[name] = id
		r.newLevels = append(r.newLevels, newLevel{DocLevel: l, id: id})
	}
	return nil
}

// resolveTemplates matches the templates the tests came from: by
// external reference (an Atomic test's GUID) when there is one, else by
// name; a template found nowhere is created from the first test that
// came from it.
func (r *resolution) resolveTemplates(ctx context.Context, client *ent.Client, m *Manifest) error {
	var refs, names []string
	for i := range m.Tests {
		t := &m.Tests[i]
		if t.Template == nil {
			continue
		}
		if t.Template.ExternalRef != "" {
			refs = append(refs, t.Template.ExternalRef)
		}
		names = append(names, t.Template.Name)
	}
	if len(refs)+len(names) == 0 {
		return nil
	}
	found, err := client.TestTemplate.Query().Where(testtemplate.DeletedAtIsNil(), testtemplate.Or(
		predicate.TestTemplate(database.In(testtemplate.FieldExternalRef, refs)),
		predicate.TestTemplate(database.In(testtemplate.FieldName, names)))).
		Order(testtemplate.ByCreatedAt(), testtemplate.ByID()).All(ctx)
	if err != nil {
		return fmt.Errorf("find the templates: %w", err)
	}
	// The oldest template wins when several share a reference or a name.
	here := map[string]uuid.UUID{}
	for _, t := range found {
		if _, ok := here["ref:"+t.ExternalRef]; !ok && t.ExternalRef != "" {
			here["ref:"+t.ExternalRef] = t.ID
		}
		if _, ok := here["name:"+t.Name]; !ok {
			here["name:"+t.Name] = t.ID
		}
	}
	for i := range m.Tests {
		t := &m.Tests[i]
		if t.Template == nil {
			continue
		}
		k := templateKey(t.Template)
		if _, ok := r.templates[k]; !ok && r.newTpls[k] == nil {
			// Its reference first, else its name.
			if id, ok := here["ref:"+t.Template.ExternalRef]; ok && t.Template.ExternalRef != "" {
				r.templates[k] = id
			} else if id, ok := here["name:"+t.Template.Name]; ok {
				r.templates[k] = id
			}
		}
		if _, ok := r.templates[k]; ok || r.newTpls[k] != nil {
			if !slices.ContainsFunc(r.Templates, func(x Match) bool { return x.Name == t.Template.Name }) {
				r.Templates = append(r.Templates, Match{Name: t.Template.Name, Created: r.newTpls[k] != nil})
			}
			continue
		}
		r.templates[k] = uuid.New()
		r.newTpls[k] = t
		r.Templates = append(r.Templates, Match{Name: t.Template.Name, Created: true})
	}
	return nil
}

// hexColour is a #rrggbb colour, the only kind the schema's checks take.
func hexColour(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
