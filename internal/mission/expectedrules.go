package mission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missiontest"
	"violet/internal/app"
	"violet/internal/expectedrule"
	"violet/internal/paths"
	mtviews "violet/views/missiontest"
)

// The free rule names per tool a mission test expects to fire (issue 20,
// point 7) are part of the test's plan: the lead edits them on their own
// page, from the test page. They are copied from the template when it is
// added to the mission (plan.go); here a lead adjusts them to the
// mission's tools. The change is a plan change (audit mission.plan_changed
// with the rules added and removed, a live plan event), and it does not
// bump the test's version: red and blue forms open on the test keep
// saving. Two leads editing at once are told instead by the fingerprint
// of the rules the form was read with (Seen).

// ExpectedRulesEdit is the editor of a test's free expected rules, as
// saved (one statement for the test, one for the tools).
func ExpectedRulesEdit(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID) (mtviews.ExpectedEdit, error) {
	if err := a.check(a.CanManage()); err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	t, err := expectedTest(ctx, client, a, testID)
	if err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	stored := expectedrule.FromColumn(t.ExpectedRules)
	e, err := expectedrule.Editor(ctx, client, stored)
	if err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	p := expectedEditPage(a, t)
	p.Editor, p.Seen = e, fingerprint(stored)
	return p, nil
}

// SaveExpectedRules replaces a test's free expected rules by the editor's
// rows (tools and names, as posted). seen is the fingerprint the form was
// read with. On a refusal the page to show again is returned with the
// error: an *app.Invalid for rows refused (each row with its error, the
// input kept), ErrConflict when someone changed the rules since (the
// rules saved meanwhile shown beside the input kept).
func SaveExpectedRules(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, seen string, tools, names []string) (mtviews.ExpectedEdit, error) {
	var p mtviews.ExpectedEdit
	details := map[string]any{"change": "expected_rules", "test_id": testID.String()}
	err := planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		t, err := tx.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
			ForUpdate().Only(sys)
		if err != nil {
			return err
		}
		p = expectedEditPage(a, t)
		// Checked against the rules stored: an inactive tool only for a
		// tool they name, a deleted tool's rule only as stored.
		stored := expectedrule.FromColumn(t.ExpectedRules)
		rules, editor, key, err := expectedrule.Check(sys, tx.Client(), stored, tools, names)
		if err != nil {
			return err
		}
		p.Editor, p.Seen = editor, seen
		if key != "" {
			p.ErrorKey = key
			return app.Invalidf(mtviews.ExpectedField, key)
		}
		if fingerprint(stored) != seen {
			saved, err := expectedrule.Named(sys, tx.Client(), stored)
			if err != nil {
				return err
			}
			p.Saved, p.Stale, p.Seen = saved, true, fingerprint(stored)
			return ErrConflict
		}
		change := expectedrule.Changes(stored, rules, expectedrule.ToolNames(editor))
		if change == nil {
			return errUnchanged
		}
		details["test"] = t.Name
		for k, v := range change {
			details[k] = v
		}
		return tx.MissionTest.UpdateOneID(t.ID).SetExpectedRules(expectedrule.Column(rules)).Exec(sys)
	})
	if errors.Is(err, errUnchanged) {
		return p, nil
	}
	return p, err
}

// errUnchanged ends a save that changes nothing without an audit record
// (the expected rules, an outcome): its transaction is rolled back, so
// nothing it wrote on the way stays, and the save answers as done. It is
// never returned to callers.
var errUnchanged = errors.New("nothing changed")

// ExpectedRulesLink is the editor of a test's free expected rules.
func ExpectedRulesLink(missionID, testID uuid.UUID) string {
	return paths.URL(paths.MissionTestExpected, missionID, testID)
}

// expectedTest is the test of a's mission, as the viewer sees it.
func expectedTest(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID) (*ent.MissionTest, error) {
	return client.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
		Select(missiontest.FieldName, missiontest.FieldExpectedRules).Only(ctx)
}

// expectedEditPage is the editor page's frame for test t.
func expectedEditPage(a *Access, t *ent.MissionTest) mtviews.ExpectedEdit {
	return mtviews.ExpectedEdit{
		MissionName: a.Mission.Name, TestName: t.Name,
		TestURL: TestLink(a.Mission.ID, t.ID), Action: ExpectedRulesLink(a.Mission.ID, t.ID),
	}
}

// fingerprint identifies a set of rules whatever their order: what the
// form was read with, compared when it is saved.
func fingerprint(rules []expectedrule.Rule) string {
	sum := sha256.Sum256([]byte(strings.Join(expectedrule.Labels(rules, nil), "\n")))
	return hex.EncodeToString(sum[:12])
}
