package library

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/scenariotemplate"
	"violet/ent/scenariotemplatetest"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/attackid"
	"violet/internal/database"
	"violet/internal/expectedrule"
	"violet/internal/parselimit"
)

// FormatVersion is the version of the library exchange document.
const FormatVersion = 1

// Document is a library exported from one Violet instance for another: the
// templates with their ATT&CK tags (by ATT&CK ID, since catalogues are
// synced separately), the detection rules they expect to fire (Sigma
// rules by their rule id, free rule names by their tool's name: both
// catalogues are kept per instance) and the scenarios built from them.
// Templates and scenarios keep their ids, so importing a document again
// updates what the first import created instead of duplicating it.
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
	// The rules expected to fire. Export always writes both keys; a
	// document without them (written before they existed) leaves the
	// template's rules as they are, which is what importing it did then.
	SigmaRules    *[]string       `yaml:"sigma_rules,omitempty"`    // Sigma rule ids (the catalogue's rule_uid)
	ExpectedRules *[]ExpectedRule `yaml:"expected_rules,omitempty"` // free rule names per tool
}

// ExpectedRule is a free rule name a template expects of a defensive
// tool, the tool named by its name in the registry (ids differ across
// instances; names are unique there, ignoring case).
type ExpectedRule struct {
	Tool string `yaml:"tool"`
	Name string `yaml:"name"`
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
// places in scenarios. Every query binds its id list as one array (a
// library holds tens of thousands of templates; ent's eager loading would
// bind one parameter each, past PostgreSQL's 65,535).
func Export(ctx context.Context, client *ent.Client, templateIDs, scenarioIDs []uuid.UUID, now time.Time) ([]byte, error) {
	doc := Document{Violet: FormatVersion, Exported: now.UTC().Format(time.RFC3339)}
	sq := client.ScenarioTemplate.Query().Order(ent.Asc(scenariotemplate.FieldName), ent.Asc(scenariotemplate.FieldID))
	if scenarioIDs != nil {
		sq.Where(predicate.ScenarioTemplate(database.In(scenariotemplate.FieldID, scenarioIDs)))
	}
	scenarios, err := sq.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read scenarios: %w", err)
	}
	entries := map[uuid.UUID][]uuid.UUID{} // scenario → its templates in order
	if len(scenarios) > 0 {
		ids := make([]uuid.UUID, len(scenarios))
		for i, sc := range scenarios {
			ids[i] = sc.ID
		}
		rows, err := client.ScenarioTemplateTest.Query().
			Where(predicate.ScenarioTemplateTest(database.In(scenariotemplatetest.FieldScenarioTemplateID, ids))).
			Order(ent.Asc(scenariotemplatetest.FieldScenarioTemplateID), ent.Asc(scenariotemplatetest.FieldPosition)).
			Select(scenariotemplatetest.FieldScenarioTemplateID, scenariotemplatetest.FieldTestTemplateID).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read scenarios: %w", err)
		}
		for _, r := range rows {
			entries[r.ScenarioTemplateID] = append(entries[r.ScenarioTemplateID], r.TestTemplateID)
		}
	}
	tq := client.TestTemplate.Query().Order(ent.Asc(testtemplate.FieldName), ent.Asc(testtemplate.FieldID))
	if templateIDs != nil || scenarioIDs != nil {
		// A scenario brings its templates along, so the document is whole.
		wanted := map[uuid.UUID]bool{}
		for _, id := range templateIDs {
			wanted[id] = true
		}
		for _, list := range entries {
			for _, id := range list {
				wanted[id] = true
			}
		}
		ids := make([]uuid.UUID, 0, len(wanted))
		for id := range wanted {
			ids = append(ids, id)
		}
		tq.Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids)))
	}
	templates, err := tq.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	tags, err := exportTags(ctx, client, templates)
	if err != nil {
		return nil, err
	}
	sigmaRules, expected, err := exportRules(ctx, client, templates)
	if err != nil {
		return nil, err
	}
	present := make(map[uuid.UUID]bool, len(templates))
	doc.Templates = make([]Template, 0, len(templates))
	for _, t := range templates {
		present[t.ID] = true
		doc.Templates = append(doc.Templates, Template{
			ID: t.ID.String(), Name: t.Name, Description: t.Description, Objective: t.Objective,
			Procedure: t.Procedure, Prerequisites: t.Prerequisites, Cleanup: t.Cleanup,
			ExpectedDetection: t.ExpectedDetection, Platforms: t.Platforms, OpsecLevel: string(t.OpsecLevel),
			Source: string(t.Source), ExternalRef: t.ExternalRef, Labels: t.Labels, Tags: tags[t.ID],
			SigmaRules: sigmaRules(t.ID), ExpectedRules: expected(t),
		})
	}
	for _, s := range scenarios {
		ds := Scenario{ID: s.ID.String(), Name: s.Name, Description: s.Description, Tests: []string{}}
		for _, id := range entries[s.ID] {
			if present[id] {
				ds.Tests = append(ds.Tests, id.String())
			}
		}
		doc.Scenarios = append(doc.Scenarios, ds)
	}
	return EncodeDocument(&doc)
}

// exportTags reads the ATT&CK tags of templates, by ATT&CK ID, in the
// order they were added: one query for the tags (the ids as one array)
// and three for the catalogue's ATT&CK IDs.
func exportTags(ctx context.Context, client *ent.Client, templates []*ent.TestTemplate) (map[uuid.UUID][]Tag, error) {
	out := map[uuid.UUID][]Tag{}
	if len(templates) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(templates))
	for i, t := range templates {
		ids[i] = t.ID
	}
	rows, err := client.TestTemplateMitreTag.Query().
		Where(predicate.TestTemplateMitreTag(database.In(testtemplatemitretag.FieldTestTemplateID, ids))).
		Order(ent.Asc(testtemplatemitretag.FieldCreatedAt), ent.Asc(testtemplatemitretag.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	type ref struct {
		ID         uuid.UUID `json:"id"`
		ExternalID string    `json:"external_id"`
	}
	var tactics, techniques, subs []ref
	if err := client.MitreTactic.Query().Select(mitretactic.FieldID, mitretactic.FieldExternalID).Scan(ctx, &tactics); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	if err := client.MitreTechnique.Query().Select(mitretechnique.FieldID, mitretechnique.FieldExternalID).Scan(ctx, &techniques); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	if err := client.MitreSubtechnique.Query().Select(mitresubtechnique.FieldID, mitresubtechnique.FieldExternalID).Scan(ctx, &subs); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	external := map[uuid.UUID]string{}
	for _, list := range [][]ref{tactics, techniques, subs} {
		for _, r := range list {
			external[r.ID] = r.ExternalID
		}
	}
	for _, g := range rows {
		var tag Tag
		switch {
		case g.TacticID != nil:
			tag = Tag{KindTactic, external[*g.TacticID]}
		case g.TechniqueID != nil:
			tag = Tag{KindTechnique, external[*g.TechniqueID]}
		case g.SubtechniqueID != nil:
			tag = Tag{KindSubtechnique, external[*g.SubtechniqueID]}
		}
		if tag.ID != "" {
			out[g.TestTemplateID] = append(out[g.TestTemplateID], tag)
		}
	}
	return out, nil
}

// EncodeDocument writes doc as Export does: block YAML with multi-line
// texts as literal blocks, for people to read. go-yaml's writer does not
// always keep a text (a literal block drops the trailing spaces of its
// last line and writes a first line indented with a space as YAML that
// does not parse; a plain scalar loses a leading tab; found by
// FuzzParseDocument), so each form is read back and compared with the
// JSON-style form, where every text is quoted, which is the one written
// when neither of the others keeps the text exactly. This is done one
// template and one scenario at a time: go-yaml takes some 80 times a
// document's size to write and read it, which for a whole library of
// 70,000 templates was gigabytes.
func EncodeDocument(doc *Document) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Violet test library (import it in Library → Import)\n")
	head, err := yaml.Marshal(struct {
		Violet   int    `yaml:"violet_library"`
		Exported string `yaml:"exported_at,omitempty"`
	}{doc.Violet, doc.Exported})
	if err != nil {
		return nil, err
	}
	b.Write(head)
	if len(doc.Templates) == 0 {
		b.WriteString("templates: []\n") // never null
	} else {
		b.WriteString("templates:\n")
		for i := range doc.Templates {
			if err := encodeEntry(&b, doc.Templates[i]); err != nil {
				return nil, err
			}
		}
	}
	if len(doc.Scenarios) > 0 {
		b.WriteString("scenarios:\n")
		for i := range doc.Scenarios {
			if err := encodeEntry(&b, doc.Scenarios[i]); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// sameEntry is reflect.DeepEqual for the entries of a document (structs
// of strings, ints and slices of them, or pointers to those) where a nil and an empty slice are
// equal, as they are once written.
func sameEntry(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameEntry(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameEntry(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Int, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameEntry(a.Elem(), b.Elem())
	}
	return false // a kind entries do not have: let the JSON forms decide
}

// encodeEntry writes v as one entry of a block sequence ("- …"), in the
// first form that reads back exactly (see EncodeDocument).
func encodeEntry[T any](b *bytes.Buffer, v T) error {
	var exact []byte // v as JSON, made only when a quick comparison is not enough
	for _, opts := range [][]yaml.EncodeOption{{yaml.UseLiteralStyleIfMultiline(true)}, nil} {
		out, err := yaml.MarshalWithOptions([]T{v}, opts...)
		if err != nil {
			return err
		}
		var back []T
		if decodeYAML(out, &back, yaml.Strict()) != nil || len(back) != 1 {
			continue
		}
		// Equal values read back exactly (an omitted empty list reads
		// back nil, which counts as equal). Otherwise the costlier
		// comparison of the JSON forms decides.
		if sameEntry(reflect.ValueOf(back[0]), reflect.ValueOf(v)) {
			b.Write(out)
			return nil
		}
		if exact == nil {
			if exact, err = yaml.MarshalWithOptions([]T{v}, yaml.JSON()); err != nil {
				return err
			}
		}
		if again, err := yaml.MarshalWithOptions(back, yaml.JSON()); err == nil && bytes.Equal(again, exact) {
			b.Write(out)
			return nil
		}
	}
	flow, err := yaml.MarshalWithOptions(v, yaml.JSON())
	if err != nil {
		return err
	}
	b.WriteString("- ")
	b.Write(bytes.TrimRight(flow, "\n"))
	b.WriteString("\n")
	return nil
}

// ExchangeSummary is what importing a document did.
type ExchangeSummary struct {
	Templates int        `json:"templates"`
	Scenarios int        `json:"scenarios"`
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Unchanged int        `json:"unchanged"`
	Untagged  []Untagged `json:"untagged,omitempty"`
	Unlinked  []Unlinked `json:"unlinked,omitempty"`
}

// attackIDCheck is the check of a document tag's ID for its kind, or nil
// for a kind that is not one.
func attackIDCheck(kind string) func(string) bool {
	switch kind {
	case KindTactic:
		return attackid.IsTactic
	case KindTechnique:
		return attackid.IsTechnique
	case KindSubtechnique:
		return attackid.IsSubtechnique
	}
	return nil
}

// Bounds of one library document. go-yaml holds about 800 bytes a token
// at its peak (measured: 400,000 tokens took 325 MB), so the token
// estimate bounds the reader's memory: 300,000 keeps it near 250 MB for a
// document made of nothing but tokens, and fits some 1,700 templates of
// Atomic-like content (the whole upstream Atomic Red Team catalogue) in
// one document. 8 MB is twice the size of such a document; what else it
// allows is long texts, which cost the reader little. Nesting: a document
// nests 5 levels; 64 refuses only files made to crash the reader. 5,000
// templates and 1,000 scenarios bound one import's transaction; a larger
// library moves in several documents (export a selection).
const (
	MaxDocumentBytes     = 8 << 20
	MaxDocumentTokens    = 300_000
	MaxDocumentDepth     = 64
	MaxDocumentTemplates = 5000
	MaxDocumentScenarios = 1000
)

// ParseDocument reads and checks a library document. Every problem is an
// error naming the place: not YAML, wrong types, missing names, an
// unknown opsec level or source, an ATT&CK ID that is not one, a scenario
// naming a test that is neither in the document nor given in known, a
// field that a form would refuse (see checkFields). A document past the
// bounds above is refused before it is read.
func ParseDocument(data []byte) (*Document, error) {
	// Nesting crashes the YAML reader, tokens take its memory, and aliases
	// expand exponentially (under a kilobyte of nested *refs takes minutes
	// and gigabytes); Export writes none.
	err := parselimit.YAML(data, parselimit.Limits{MaxBytes: MaxDocumentBytes, MaxDepth: MaxDocumentDepth, MaxTokens: MaxDocumentTokens})
	if err != nil {
		return nil, fmt.Errorf("not a Violet library document: %w", err)
	}
	var doc Document
	if err := decodeYAML(data, &doc, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("not a Violet library document: %s", firstLine(yaml.FormatError(err, false, false)))
	}
	if doc.Violet != FormatVersion {
		return nil, fmt.Errorf("not a Violet library document of version %d (violet_library: %d)", FormatVersion, doc.Violet)
	}
	if len(doc.Templates) > MaxDocumentTemplates {
		return nil, fmt.Errorf("the document holds %d templates, more than the %d one import takes: export and import the library in parts", len(doc.Templates), MaxDocumentTemplates)
	}
	if len(doc.Scenarios) > MaxDocumentScenarios {
		return nil, fmt.Errorf("the document holds %d scenarios, more than the %d one import takes: export and import the library in parts", len(doc.Scenarios), MaxDocumentScenarios)
	}
	rules := newFieldRules()
	ids := map[string]bool{}
	for i := range doc.Templates {
		t := &doc.Templates[i]
		where := fmt.Sprintf("template %d", i+1)
		if err := rules.templateName.check(t.Name); err != nil {
			return nil, fmt.Errorf("%s: name %w", where, err)
		}
		if strings.TrimSpace(t.Name) == "" {
			return nil, fmt.Errorf("%s has no name", where)
		}
		where = fmt.Sprintf("template %d (%q)", i+1, t.Name)
		if err := rules.checkTemplate(t); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
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
		if err := rules.checkExpected(t); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		for _, g := range t.Tags {
			isID := attackIDCheck(g.Kind)
			if isID == nil {
				return nil, fmt.Errorf("%s: ATT&CK kind %q is not tactic, technique or subtechnique", where, g.Kind)
			}
			if !isID(g.ID) {
				return nil, fmt.Errorf("%s: %q is not the ATT&CK ID of a %s", where, g.ID, g.Kind)
			}
		}
	}
	for i, s := range doc.Scenarios {
		if err := rules.scenarioName.check(s.Name); err != nil {
			return nil, fmt.Errorf("scenario %d: name %w", i+1, err)
		}
		if strings.TrimSpace(s.Name) == "" {
			return nil, fmt.Errorf("scenario %d has no name", i+1)
		}
		if err := rules.scenarioDescription.check(s.Description); err != nil {
			return nil, fmt.Errorf("scenario %d (%q): description %w", i+1, s.Name, err)
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
// when they differ, left alone — version and updated_at kept — when the
// document says what the library already holds), tags resolved in this
// instance's catalogue (IDs it lacks are reported and left off). All of it
// or nothing. progress, when set, is told how many templates and scenarios
// are done out of how many.
func ImportDocument(ctx context.Context, client *ent.Client, doc *Document, createdBy *uuid.UUID, progress func(done, total int)) (ExchangeSummary, error) {
	sum := ExchangeSummary{Templates: len(doc.Templates), Scenarios: len(doc.Scenarios)}
	total, done := len(doc.Templates)+len(doc.Scenarios), 0
	step := func() {
		if done++; progress != nil {
			progress(done, total)
		}
	}
	cat, err := LoadCatalogue(ctx, client)
	if err != nil {
		return sum, err
	}
	err = database.WithTx(ctx, client, func(tx *ent.Tx) error {
		sum.Created, sum.Updated, sum.Unchanged, sum.Untagged, sum.Unlinked = 0, 0, 0, nil, nil
		links, err := loadLinks(ctx, tx, doc.Templates)
		if err != nil {
			return err
		}
		done = 0
		stored, err := storedTemplates(ctx, tx, doc.Templates)
		if err != nil {
			return err
		}
		for _, t := range doc.Templates {
			id := uuid.MustParse(t.ID)
			var refs []Ref
			for _, g := range t.Tags {
				ref, ok := cat[g.ID]
				if !ok || ref.Kind != g.Kind {
					sum.Untagged = append(sum.Untagged, Untagged{Test: t.Name, TechniqueID: g.ID})
					continue
				}
				refs = append(refs, ref)
			}
			ruleIDs, expected := links.resolve(t, &sum)
			platforms, labels := orEmpty(t.Platforms), orEmpty(t.Labels)
			old, exists := stored[id]
			switch {
			case exists && old.same(t, refs) && old.sameRules(t, ruleIDs, expected):
				sum.Unchanged++
				step()
				continue
			case exists:
				// A template deleted here comes back: the document says it exists.
				u := tx.TestTemplate.UpdateOneID(id).SetName(t.Name).SetDescription(t.Description).
					SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
					SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(platforms).
					SetOpsecLevel(testtemplate.OpsecLevel(t.OpsecLevel)).SetSource(testtemplate.Source(t.Source)).
					SetExternalRef(t.ExternalRef).SetLabels(labels).AddVersion(1).ClearDeletedAt()
				// A document without the rules' keys leaves them as they are.
				if t.SigmaRules != nil {
					u.ClearRules().AddRuleIDs(ruleIDs...)
				}
				if t.ExpectedRules != nil {
					u.SetExpectedRules(expectedrule.Column(expected))
				}
				err = u.Exec(schema.SkipSoftDelete(ctx))
				if err == nil {
					_, err = tx.TestTemplateMitreTag.Delete().Where(testtemplatemitretag.TestTemplateID(id)).Exec(ctx)
				}
				sum.Updated++
			default:
				err = tx.TestTemplate.Create().SetID(id).SetName(t.Name).SetDescription(t.Description).
					SetObjective(t.Objective).SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).
					SetCleanup(t.Cleanup).SetExpectedDetection(t.ExpectedDetection).SetPlatforms(platforms).
					SetOpsecLevel(testtemplate.OpsecLevel(t.OpsecLevel)).SetSource(testtemplate.Source(t.Source)).
					SetExternalRef(t.ExternalRef).SetLabels(labels).SetNillableCreatedByID(createdBy).
					AddRuleIDs(ruleIDs...).SetExpectedRules(expectedrule.Column(expected)).Exec(ctx)
				sum.Created++
			}
			if err != nil {
				return fmt.Errorf("template %q: %w", t.Name, err)
			}
			for _, ref := range refs {
				if err := setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), ref).Exec(ctx); err != nil {
					return fmt.Errorf("template %q: tag %s: %w", t.Name, ref.ID, err)
				}
			}
			step()
		}
		scenarios, err := storedScenarios(ctx, tx, doc.Scenarios)
		if err != nil {
			return err
		}
		for _, s := range doc.Scenarios {
			id := uuid.MustParse(s.ID)
			old, exists := scenarios[id]
			if exists && old.same(s) {
				step()
				continue
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
			step()
		}
		return nil
	})
	return sum, err
}

// storedTemplate is a template row as a document import compares it: its
// fields, its tags' catalogue entries and its Sigma rules.
type storedTemplate struct {
	row   *ent.TestTemplate
	tags  []Ref
	rules []uuid.UUID
}

// storedTemplates reads the templates a document names that the library
// already holds (deleted ones too), with their tags and Sigma rules, in
// three queries whatever the document's size.
func storedTemplates(ctx context.Context, tx *ent.Tx, templates []Template) (map[uuid.UUID]*storedTemplate, error) {
	ids := make([]uuid.UUID, len(templates))
	for i, t := range templates {
		ids[i] = uuid.MustParse(t.ID)
	}
	out := map[uuid.UUID]*storedTemplate{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, fmt.Errorf("read the library's templates: %w", err)
	}
	if len(rows) == 0 {
		return out, nil
	}
	found := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		out[r.ID] = &storedTemplate{row: r}
		found[i] = r.ID
	}
	tags, err := tx.TestTemplateMitreTag.Query().
		Where(predicate.TestTemplateMitreTag(database.In(testtemplatemitretag.FieldTestTemplateID, found))).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the library's tags: %w", err)
	}
	if err := storedRules(ctx, tx, out, found); err != nil {
		return nil, err
	}
	for _, g := range tags {
		st := out[g.TestTemplateID]
		switch {
		case g.TacticID != nil:
			st.tags = append(st.tags, Ref{Kind: KindTactic, ID: *g.TacticID})
		case g.TechniqueID != nil:
			st.tags = append(st.tags, Ref{Kind: KindTechnique, ID: *g.TechniqueID})
		case g.SubtechniqueID != nil:
			st.tags = append(st.tags, Ref{Kind: KindSubtechnique, ID: *g.SubtechniqueID})
		}
	}
	return out, nil
}

// same reports whether importing t (its tags resolved to refs) would
// leave the row as it is: every field the import sets is equal as stored
// (texts exactly, since the import stores them as given), platforms,
// labels and tags in any order, and the row is not deleted.
func (s *storedTemplate) same(t Template, refs []Ref) bool {
	r := s.row
	return r.DeletedAt == nil && r.Name == t.Name && r.Description == t.Description &&
		r.Objective == t.Objective && r.Procedure == t.Procedure && r.Prerequisites == t.Prerequisites &&
		r.Cleanup == t.Cleanup && r.ExpectedDetection == t.ExpectedDetection &&
		string(r.OpsecLevel) == t.OpsecLevel && string(r.Source) == t.Source && r.ExternalRef == t.ExternalRef &&
		sameSet(r.Platforms, t.Platforms) && sameSet(r.Labels, t.Labels) && sameSet(s.tags, refs)
}

// sameSet reports whether a and b hold the same values, in any order.
func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[T]int{}
	for _, v := range a {
		n[v]++
	}
	for _, v := range b {
		if n[v]--; n[v] < 0 {
			return false
		}
	}
	return true
}

// storedScenario is a scenario row as a document import compares it: its
// fields and its tests in order.
type storedScenario struct {
	row   *ent.ScenarioTemplate
	tests []string
}

// storedScenarios reads the scenarios a document names that the library
// already holds (deleted ones too), with their tests in order, in two
// queries.
func storedScenarios(ctx context.Context, tx *ent.Tx, scenarios []Scenario) (map[uuid.UUID]*storedScenario, error) {
	ids := make([]uuid.UUID, len(scenarios))
	for i, s := range scenarios {
		ids[i] = uuid.MustParse(s.ID)
	}
	out := map[uuid.UUID]*storedScenario{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.ScenarioTemplate.Query().Where(predicate.ScenarioTemplate(database.In(scenariotemplate.FieldID, ids))).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, fmt.Errorf("read the library's scenarios: %w", err)
	}
	if len(rows) == 0 {
		return out, nil
	}
	found := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		out[r.ID] = &storedScenario{row: r}
		found[i] = r.ID
	}
	entries, err := tx.ScenarioTemplateTest.Query().
		Where(predicate.ScenarioTemplateTest(database.In(scenariotemplatetest.FieldScenarioTemplateID, found))).
		Order(ent.Asc(scenariotemplatetest.FieldPosition)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the library's scenario tests: %w", err)
	}
	for _, e := range entries {
		st := out[e.ScenarioTemplateID]
		st.tests = append(st.tests, e.TestTemplateID.String())
	}
	return out, nil
}

// same reports whether importing s would leave the scenario as it is.
func (st *storedScenario) same(s Scenario) bool {
	if st.row.DeletedAt != nil || st.row.Name != s.Name || st.row.Description != s.Description || len(st.tests) != len(s.Tests) {
		return false
	}
	for i, t := range s.Tests {
		if u, err := uuid.Parse(t); err != nil || u.String() != st.tests[i] {
			return false
		}
	}
	return true
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
