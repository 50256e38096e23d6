package mission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/internal/app"
	"violet/internal/expectedrule"
	"violet/internal/paths"
	"violet/internal/rulepick"
	mtviews "violet/views/missiontest"
	"violet/views/rulepicker"
)

// The detection rules a mission test expects to fire (issue 20, point 7)
// are part of the test's plan: the Sigma rules of the catalogue (its
// rules edge, mission_test_rules) and the free rule names per tool
// (expected_rules). Both are copied from the template when it is added
// to the mission (plan.go); a lead adjusts them to the mission on their
// own page, from the test page: the Sigma rules with the template form's
// picker (internal/rulepick; suggested: the rules of the test's own
// techniques and sub-techniques), the free names with their editor. The
// change is a plan change (audit mission.plan_changed with the rules
// added and removed, a live plan event), and it does not bump the test's
// version: red and blue forms open on the test keep saving. Two leads
// editing at once are told instead by the fingerprint of both kinds of
// rules the form was read with (Seen). Links to rules in the trash are
// neither shown nor changed: only live links are.

// ExpectedRulesEdit is the editor of the rules a test expects, as saved,
// its picker searching q (the rules picked are then those of the search
// request: picked). Five statements at most, whatever the rules.
func ExpectedRulesEdit(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, q string, picked []string) (mtviews.ExpectedEdit, error) {
	if err := a.check(a.CanManage()); err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	t, err := expectedTest(ctx, client, a, testID)
	if err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	linked, err := linkedRules(ctx, client, testID)
	if err != nil {
		return mtviews.ExpectedEdit{}, err
	}
	stored := expectedrule.FromColumn(t.ExpectedRules)
	p := expectedEditPage(a, t)
	p.Seen, p.Rules.Picked = fingerprint(stored, linked), rulepick.Choices(linked)
	if strings.TrimSpace(q) != "" {
		if p.Rules.Picked, err = rulepick.Kept(ctx, client, picked); err != nil {
			return p, err
		}
	}
	if err := offerRules(ctx, client, &p, testID, q); err != nil {
		return p, err
	}
	p.Editor, err = expectedrule.Editor(ctx, client, stored)
	return p, err
}

// SaveExpectedRules replaces the rules a test expects: its live links to
// Sigma rules by the rules picked (ids, as posted) and its free rules by
// the editor's rows (tools and names, as posted), in one transaction.
// seen is the fingerprint the form was read with. On a refusal the page
// to show again is returned with the error: an *app.Invalid for a
// picked rule that is not in the catalogue or rows refused (each row
// with its error, the input kept), ErrConflict when someone changed
// either kind of rules since (the rules saved meanwhile shown beside the
// input kept).
func SaveExpectedRules(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID, seen string, tools, names, ruleIDs []string) (mtviews.ExpectedEdit, error) {
	var p mtviews.ExpectedEdit
	details := map[string]any{"change": "expected_rules", "test_id": testID.String()}
	err := planChange(ctx, client, a, details, func(sys context.Context, tx *ent.Tx) error {
		t, err := tx.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
			ForUpdate().Only(sys)
		if err != nil {
			return err
		}
		linked, err := linkedRules(sys, tx.Client(), t.ID)
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
		picked, ruleKey, err := rulepick.Check(sys, tx.Client(), ruleIDs)
		if err != nil {
			return err
		}
		p.Editor, p.Seen, p.Rules.Picked = editor, seen, rulepick.Choices(picked)
		refused := &app.Invalid{}
		if key != "" {
			p.ErrorKey = key
			refused.Add(mtviews.ExpectedField, key)
		}
		if ruleKey != "" {
			refused.Add(mtviews.ExpectedRulesField, ruleKey)
			p.Rules.Errors = map[string]string{mtviews.ExpectedRulesField: ruleKey}
		}
		if err := refused.Err(); err != nil {
			if oerr := offerRules(sys, tx.Client(), &p, t.ID, ""); oerr != nil {
				return oerr
			}
			return err
		}
		if fingerprint(stored, linked) != seen {
			saved, err := expectedrule.Named(sys, tx.Client(), stored)
			if err != nil {
				return err
			}
			p.Saved, p.SavedRules, p.Stale, p.Seen = saved, rulepick.Choices(linked), true, fingerprint(stored, linked)
			if err := offerRules(sys, tx.Client(), &p, t.ID, ""); err != nil {
				return err
			}
			return ErrConflict
		}
		change := expectedrule.Changes(stored, rules, expectedrule.ToolNames(editor))
		added, removed := ruleChanges(linked, picked)
		if change == nil && len(added) == 0 && len(removed) == 0 {
			return errUnchanged
		}
		details["test"] = t.Name
		for k, v := range change {
			details[k] = v
		}
		u := tx.MissionTest.UpdateOneID(t.ID)
		if change != nil {
			u.SetExpectedRules(expectedrule.Column(rules))
		}
		if len(added) > 0 {
			details["rules_added"] = ruleTitles(added)
			u.AddRules(added...)
		}
		if len(removed) > 0 {
			details["rules_removed"] = ruleTitles(removed)
			u.RemoveRules(removed...)
		}
		return u.Exec(sys)
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

// ExpectedRulesLink is the editor of the rules a test expects to fire.
func ExpectedRulesLink(missionID, testID uuid.UUID) string {
	return paths.URL(paths.MissionTestExpected, missionID, testID)
}

// expectedTest is the test of a's mission, as the viewer sees it.
func expectedTest(ctx context.Context, client *ent.Client, a *Access, testID uuid.UUID) (*ent.MissionTest, error) {
	return client.MissionTest.Query().Where(missiontest.ID(testID), missiontest.MissionID(a.Mission.ID)).
		Select(missiontest.FieldName, missiontest.FieldExpectedRules).Only(ctx)
}

// linkedRules are the live Sigma rules test testID expects, by title
// (those in the trash left out: they stay linked as they are).
func linkedRules(ctx context.Context, client *ent.Client, testID uuid.UUID) ([]*ent.DetectionRule, error) {
	rules, err := client.DetectionRule.Query().Where(detectionrule.HasMissionTestsWith(missiontest.ID(testID))).
		Order(detectionrule.ByTitle(), detectionrule.ByID()).Select(rulepick.Columns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the test's expected Sigma rules: %w", err)
	}
	return rules, nil
}

// offerRules fills the rules p's picker offers for the search q: without
// q, the rules of test testID's techniques and sub-techniques.
func offerRules(ctx context.Context, client *ent.Client, p *mtviews.ExpectedEdit, testID uuid.UUID, q string) error {
	var techniques []string
	if strings.TrimSpace(q) == "" {
		var err error
		techniques, err = client.MissionTestMitreTag.Query().
			Where(missiontestmitretag.MissionTestID(testID),
				missiontestmitretag.KindIn(missiontestmitretag.KindTechnique, missiontestmitretag.KindSubtechnique)).
			Select(missiontestmitretag.FieldExternalID).Strings(ctx)
		if err != nil {
			return fmt.Errorf("load the test's techniques: %w", err)
		}
	}
	var err error
	p.Rules.Query, p.Rules.Offered, err = rulepick.Offer(ctx, client, q, techniques, p.Rules.Picked)
	return err
}

// ruleChanges are the rules to link (picked, not linked) and to unlink
// (linked, not picked).
func ruleChanges(linked, picked []*ent.DetectionRule) (added, removed []*ent.DetectionRule) {
	missing := func(from, in []*ent.DetectionRule) (out []*ent.DetectionRule) {
		for _, r := range from {
			if !slices.ContainsFunc(in, func(x *ent.DetectionRule) bool { return x.ID == r.ID }) {
				out = append(out, r)
			}
		}
		return out
	}
	return missing(picked, linked), missing(linked, picked)
}

// ruleTitles are rules as an audit record lists them: their titles,
// sorted.
func ruleTitles(rules []*ent.DetectionRule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Title
	}
	slices.Sort(out)
	return out
}

// expectedEditPage is the editor page's frame for test t.
func expectedEditPage(a *Access, t *ent.MissionTest) mtviews.ExpectedEdit {
	action := ExpectedRulesLink(a.Mission.ID, t.ID)
	return mtviews.ExpectedEdit{
		MissionName: a.Mission.Name, TestName: t.Name, TestURL: TestLink(a.Mission.ID, t.ID), Action: action,
		Rules: rulepicker.Props{URL: action, Hint: "expectedrules.sigma_hint", Suggested: "expectedrules.sigma_suggested"},
	}
}

// fingerprint identifies the rules a test expects, free and Sigma,
// whatever their order: what the form was read with, compared when it is
// saved.
func fingerprint(free []expectedrule.Rule, rules []*ent.DetectionRule) string {
	lines := expectedrule.Labels(free, nil)
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID.String()
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n") + "\x00" + strings.Join(ids, "\n")))
	return hex.EncodeToString(sum[:12])
}
