package signin

import "testing"

// TestMapsNameOnlyGrantableGroups: a group map or an allowed domain that
// names a group the viewer may not grant is refused, naming the group
// (defence in depth: the workflows already require an admin, who may
// grant every group).
func TestMapsNameOnlyGrantableGroups(t *testing.T) {
	rule := groupRule{
		known:     map[string]bool{"admin": true, "redteam": true},
		grantable: map[string]bool{"admin": false, "redteam": true},
	}
	e := newFormErrors()
	m := parseGroupMap(e, "group_map", "red = redteam\nboss = admin", rule)
	if e.errs["group_map"] != "signin.form.not_grantable" || e.args["group_map"][1] != "admin" || m["red"] != "redteam" {
		t.Errorf("group map: %v %v %v", e.errs, e.args, m)
	}
	e = newFormErrors()
	parseDomains(e, "allowed_domains", "example.org = redteam, admin", rule)
	if e.errs["allowed_domains"] != "signin.form.not_grantable" {
		t.Errorf("allowed domains: %v", e.errs)
	}
	e = newFormErrors()
	parseGroupMap(e, "group_map", "red = redteam", rule)
	parseDomains(e, "allowed_domains", "example.org = redteam", rule)
	if e.any() {
		t.Errorf("grantable groups refused: %v", e.errs)
	}
}
