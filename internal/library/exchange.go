package library

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/database"
)

// FormatVersion is the version of the library exchange document.
const FormatVersion = 1

// Document is a library exported from one Violet instance for another: the
// templates with their ATT&CK tags (by ATT&CK ID, since catalogues are
// synced separately) and the scenarios built from them. Templates and
// scenarios keep their ids, so importing a document again updates what
// the first import created instead of duplicating it.
type Document struct {
	Violet    int        `yaml:"violet_library"`
	Exported  string     `yaml:"exported_at,omitempty"`
	Templates []Template `yaml:"templates"`
	Scenarios []Scenario `yaml:"scenarios,omitempty"`
}

// Template is a test template in a document.
type Template struct {
	ID                string   `yaml:"id"`
	Name              string   `yaml:"name"`
	Description       string   `yaml:"description,omitempty"`
	Objective         string   `yaml:"objective,omitempty"`
	Procedure         string   `yaml:"procedure,omitempty"`
	Prerequisites     string   `yaml:"prerequisites,omitempty"`
	Cleanup           string   `yaml:"cleanup,omitempty"`
	ExpectedDetection string   `yaml:"expected_detection,omitempty"`
	Platforms         []string `yaml:"platforms,omitempty"`
	OpsecLevel        string   `yaml:"opsec_level"`
	Source            string   `yaml:"source"`
	ExternalRef       string   `yaml:"external_ref,omitempty"`
	Labels            []string `yaml:"labels,omitempty"`
	Tags              []Tag    `yaml:"attack,omitempty"`
}

// Tag names one ATT&CK entry.
type Tag struct {
	Kind string `yaml:"kind"`
	ID   string `yaml:"id"`
}

// Scenario is a scenario template: its tests in order, by template id (a
// template may appear at several positions).
type Scenario struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Tests       []string `yaml:"tests"`
}

// Export writes the library (or only the templates in ids and scenarios in
// scenarioIDs, when given; nil means all) as a YAML document. Deleted
// templates and scenarios are left out, and so are deleted templates'
// places in scenarios.
func Export(ctx context.Context, client *ent.Client, templateIDs, scenarioIDs []uuid.UUID, now time.Time) ([]byte, error) {
	doc := Document{Violet: FormatVersion, Exported: now.UTC().Format(time.RFC3339)}
	sq := client.ScenarioTemplate.Query().Order(ent.Asc(scenariotemplate.FieldName), ent.Asc(scenariotemplate.FieldID)).
		WithEntries(func(q *ent.ScenarioTemplateTestQuery) { q.Order(ent.Asc(scenariotemplatetest.FieldPosition)) })
	if scenarioIDs != nil {
		sq.Where(scenariotemplate.IDIn(scenarioIDs...))
	}
	scenarios, err := sq.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read scenarios: %w", err)
	}
	// A scenario brings its templates along, so the document is whole.
	wanted := map[uuid.UUID]bool{}
	for _, id := range templateIDs {
		wanted[id] = true
	}
	for _, s := range scenarios {
		for _, e := range s.Edges.Entries {
			wanted[e.TestTemplateID] = true
		}
	}
	tq := client.TestTemplate.Query().Order(ent.Asc(testtemplate.FieldName), ent.Asc(testtemplate.FieldID)).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) {
			q.WithTactic().WithTechnique().WithSubtechnique().Order(ent.Asc(testtemplatemitretag.FieldCreatedAt))
		})
	if templateIDs != nil || scenarioIDs != nil {
		ids := make([]uuid.UUID, 0, len(wanted))
		for id := range wanted {
			ids = append(ids, id)
		}
		tq.Where(testtemplate.IDIn(ids...))
	}
	templates, err := tq.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	present := map[uuid.UUID]bool{}
	for _, t := range templates {
		present[t.ID] = true
		dt := Template{
			ID: t.ID.String(), Name: t.Name, Description: t.Description, Objective: t.Objective,
			Procedure: t.Procedure, Prerequisites: t.Prerequisites, Cleanup: t.Cleanup,
			ExpectedDetection: t.ExpectedDetection, Platforms: t.Platforms, OpsecLevel: string(t.OpsecLevel),
			Source: string(t.Source), ExternalRef: t.ExternalRef, Labels: t.Labels,
		}
		for _, g := range t.Edges.MitreTags {
			switch {
			case g.Edges.Tactic != nil:
				dt.Tags = append(dt.Tags, Tag{KindTactic, g.Edges.Tactic.ExternalID})
			case g.Edges.Technique != nil:
				dt.Tags = append(dt.Tags, Tag{KindTechnique, g.Edges.Technique.ExternalID})
			case g.Edges.Subtechnique != nil:
				dt.Tags = append(dt.Tags, Tag{KindSubtechnique, g.Edges.Subtechnique.ExternalID})
			}
		}
		doc.Templates = append(doc.Templates, dt)
	}
	for _, s := range scenarios {
		ds := Scenario{ID: s.ID.String(), Name: s.Name, Description: s.Description, Tests: []string{}}
		for _, e := range s.Edges.Entries {
			if present[e.TestTemplateID] {
				ds.Tests = append(ds.Tests, e.TestTemplateID.String())
			}
		}
		doc.Scenarios = append(doc.Scenarios, ds)
	}
	return EncodeDocument(&doc)
}

// EncodeDocument writes doc as Export does: block YAML with multi-line
// texts as literal blocks, for people to read. go-yaml's writer does not
// always keep a text (a literal block drops the trailing spaces of its
// last line and writes a first line indented with a space as YAML that
// does not parse; a plain scalar loses a leading tab; found by
// FuzzParseDocument), so each form is read back and compared with the
// JSON-style form, where every text is quoted, which is the one written
// when neither of the others keeps the document exactly.
func EncodeDocument(doc *Document) ([]byte, error) {
	d := *doc
	if d.Templates == nil {
		d.Templates = []Template{} // "templates: []", never null
	}
	exact, err := yaml.MarshalWithOptions(&d, yaml.JSON())
	if err != nil {
		return nil, err
	}
	body := exact
	for _, opts := range [][]yaml.EncodeOption{{yaml.UseLiteralStyleIfMultiline(true)}, nil} {
		out, err := yaml.MarshalWithOptions(&d, opts...)
		if err != nil {
			return nil, err
		}
		var back Document
		if decodeYAML(out, &back, yaml.Strict()) != nil {
			continue
		}
		if again, err := yaml.MarshalWithOptions(&back, yaml.JSON()); err == nil && bytes.Equal(again, exact) {
			body = out
			break
		}
	}
	return append([]byte("# Violet test library (import it in Library → Import)\n"), body...), nil
}

// ExchangeSummary is what importing a document did.
type ExchangeSummary struct {
	Templates int        `json:"templates"`
	Scenarios int        `json:"scenarios"`
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Untagged  []Untagged `json:"untagged,omitempty"`
}

var attackIDRE = map[string]*regexp.Regexp{
	KindTactic:       regexp.MustCompile(`^TA\d{4}$`),
	KindTechnique:    regexp.MustCompile(`^T\d{4}$`),
	KindSubtechnique: regexp.MustCompile(`^T\d{4}\.\d{3}$`),
}

// ParseDocument reads and checks a library document. Every problem is an
// error naming the place: not YAML, wrong types, missing names, an
// unknown opsec level or source, an ATT&CK ID that is not one, a scenario
// naming a test that is neither in the document nor given in known.
func ParseDocument(data []byte) (*Document, error) {
	// Aliases expand exponentially (under a kilobyte of nested *refs
	// takes minutes and gigabytes) and the YAML library cannot bound
	// them; Export writes none.
	for _, tk := range lexer.Tokenize(string(data)) {
		if tk.Type == token.AliasType {
			return nil, errors.New("not a Violet library document: YAML aliases (*name) are not accepted")
		}
	}
	var doc Document
	if err := decodeYAML(data, &doc, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("not a Violet library document: %s", firstLine(yaml.FormatError(err, false, false)))
	}
	if doc.Violet != FormatVersion {
		return nil, fmt.Errorf("not a Violet library document of version %d (violet_library: %d)", FormatVersion, doc.Violet)
	}
	ids := map[string]bool{}
	for i := range doc.Templates {
		t := &doc.Templates[i]
		where := fmt.Sprintf("template %d", i+1)
		if strings.TrimSpace(t.Name) == "" {
			return nil, fmt.Errorf("%s has no name", where)
		}
		where = fmt.Sprintf("template %d (%q)", i+1, t.Name)
		if _, err := uuid.Parse(t.ID); err != nil {
			return nil, fmt.Errorf("%s: id %q is not a UUID", where, t.ID)
		}
		if ids[t.ID] {
			return nil, fmt.Errorf("%s: id %s appears twice", where, t.ID)
		}
		ids[t.ID] = true
		if t.OpsecLevel == "" {
			t.OpsecLevel = string(testtemplate.OpsecLevelMedium)
		}
		if testtemplate.OpsecLevelValidator(testtemplate.OpsecLevel(t.OpsecLevel)) != nil {
			return nil, fmt.Errorf("%s: opsec_level %q is not low, medium or high", where, t.OpsecLevel)
		}
		if t.Source == "" {
			t.Source = string(testtemplate.SourceManual)
		}
		if testtemplate.SourceValidator(testtemplate.Source(t.Source)) != nil {
			return nil, fmt.Errorf("%s: source %q is not manual or atomic", where, t.Source)
		}
		for _, g := range t.Tags {
			re, ok := attackIDRE[g.Kind]
			if !ok {
				return nil, fmt.Errorf("%s: ATT&CK kind %q is not tactic, technique or subtechnique", where, g.Kind)
			}
			if !re.MatchString(g.ID) {
				return nil, fmt.Errorf("%s: %q is not the ATT&CK ID of a %s", where, g.ID, g.Kind)
			}
		}
	}
	for i, s := range doc.Scenarios {
		if strings.TrimSpace(s.Name) == "" {
			return nil, fmt.Errorf("scenario %d has no name", i+1)
		}
		if _, err := uuid.Parse(s.ID); err != nil {
			return nil, fmt.Errorf("scenario %d (%q): id %q is not a UUID", i+1, s.Name, s.ID)
		}
		for _, t := range s.Tests {
			if !ids[t] {
				return nil, fmt.Errorf("scenario %d (%q) lists test %s, which the document does not hold", i+1, s.Name, t)
			}
		}
	}
	return &doc, nil
}

// decodeYAML is yaml.UnmarshalWithOptions returning an error where go-yaml
// (v1.19.2) panics: a nil dereference on an empty tag read into a list
// ("tests: ! "), found by FuzzParseDocument.
func decodeYAML(data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML reader failed on this file (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, opts...)
}

// ImportDocument writes a document into the library in one transaction:
// templates and scenarios are matched by id (created when new, replaced
// when present), tags resolved in this instance's catalogue (IDs it lacks
// are reported and left off). All of it or nothing.
func ImportDocument(ctx context.Context, client *ent.Client, doc *Document, createdBy *uuid.UUID) (ExchangeSummary, error) {
	sum := ExchangeSummary{Templates: len(doc.Templates), Scenarios: len(doc.Scenarios)}
	cat, err := LoadCatalogue(ctx, client)
	if err != nil {
		return sum, err
	}
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		sum.Created, sum.Updated, sum.Untagged = 0, 0, nil
		for _, t := range doc.Templates {
			id := uuid.MustParse(t.ID)
			// A template deleted here comes back: the document says it exists.
			exists, err := tx.TestTemplate.Query().Where(testtemplate.ID(id)).Exist(schema.SkipSoftDelete(ctx))
			if err != nil {
				return err
			}
			platforms, labels := orEmpty(t.Platforms), orEmpty(t.Labels)
			if exists {
				err = tx.TestTemplate.UpdateOneID(id).SetName(t.Name).SetDescription(t.Description).
					SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
					SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(platforms).
					SetOpsecLevel(testtemplate.OpsecLevel(t.OpsecLevel)).SetSource(testtemplate.Source(t.Source)).
					SetExternalRef(t.ExternalRef).SetLabels(labels).AddVersion(1).ClearDeletedAt().
					Exec(schema.SkipSoftDelete(ctx))
				if err == nil {
					_, err = tx.TestTemplateMitreTag.Delete().Where(testtemplatemitretag.TestTemplateID(id)).Exec(ctx)
				}
				sum.Updated++
			} else {
				err = tx.TestTemplate.Create().SetID(id).SetName(t.Name).SetDescription(t.Description).
					SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
					SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(platforms).
					SetOpsecLevel(testtemplate.OpsecLevel(t.OpsecLevel)).SetSource(testtemplate.Source(t.Source)).
					SetExternalRef(t.ExternalRef).SetLabels(labels).SetNillableCreatedByID(createdBy).Exec(ctx)
				sum.Created++
			}
			if err != nil {
				return fmt.Errorf("template %q: %w", t.Name, err)
			}
			for _, g := range t.Tags {
				ref, ok := cat[g.ID]
				if !ok || ref.Kind != g.Kind {
					sum.Untagged = append(sum.Untagged, Untagged{Test: t.Name, TechniqueID: g.ID})
					continue
				}
				if err := setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), ref).Exec(ctx); err != nil {
					return fmt.Errorf("template %q: tag %s: %w", t.Name, g.ID, err)
				}
			}
		}
		for _, s := range doc.Scenarios {
			id := uuid.MustParse(s.ID)
			exists, err := tx.ScenarioTemplate.Query().Where(scenariotemplate.ID(id)).Exist(schema.SkipSoftDelete(ctx))
			if err != nil {
				return err
			}
			if exists {
				err = tx.ScenarioTemplate.UpdateOneID(id).SetName(s.Name).SetDescription(s.Description).AddVersion(1).
					ClearDeletedAt().Exec(schema.SkipSoftDelete(ctx))
				if err == nil {
					_, err = tx.ScenarioTemplateTest.Delete().Where(scenariotemplatetest.ScenarioTemplateID(id)).Exec(ctx)
				}
			} else {
				err = tx.ScenarioTemplate.Create().SetID(id).SetName(s.Name).SetDescription(s.Description).
					SetNillableCreatedByID(createdBy).Exec(ctx)
			}
			if err != nil {
				return fmt.Errorf("scenario %q: %w", s.Name, err)
			}
			entries := make([]*ent.ScenarioTemplateTestCreate, len(s.Tests))
			for i, t := range s.Tests {
				entries[i] = tx.ScenarioTemplateTest.Create().SetScenarioTemplateID(id).
					SetTestTemplateID(uuid.MustParse(t)).SetPosition(i)
			}
			for chunk := range slices.Chunk(entries, 500) {
				if err := tx.ScenarioTemplateTest.CreateBulk(chunk...).Exec(ctx); err != nil {
					return fmt.Errorf("scenario %q: %w", s.Name, err)
				}
			}
		}
		return nil
	})
	return sum, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
