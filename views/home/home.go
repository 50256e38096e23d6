package home

import (
	"context"
	"strings"

	"violet/internal/i18n"
	"violet/internal/paths"
)

// queueLink is the mission overview with the queue's preset filter.
func queueLink(missionID, queue string) string {
	return paths.Query(paths.URL(paths.Mission, missionID), "queue", queue)
}

// testLink is a test's page.
func testLink(missionID, testID string) string {
	return paths.URL(paths.MissionTest, missionID, testID)
}

// jobLink is a job's page.
func jobLink(j Job) string {
	if j.Kind == JobAttackSync {
		return paths.URL(paths.AttackSyncJob, j.ID)
	}
	return paths.URL(paths.LibraryImportJob, j.ID)
}

// progressLabel is "3 / 10".
func progressLabel(ctx context.Context, m Mission) string {
	return i18n.T(ctx, "home.missions.progress", "Done", m.Done, "Total", m.Total)
}

// jobBadge is the badge class of a job status.
func jobBadge(status string) string {
	switch status {
	case "succeeded":
		return "badge badge--ok"
	case "failed":
		return "badge badge--danger"
	default:
		return "badge badge--warn"
	}
}

// testLabel is a test named with its ATT&CK ID in front, as everywhere
// ("T1059.001 Encoded PowerShell").
func testLabel(attackID, name string) string {
	if attackID == "" {
		return name
	}
	return attackID + " " + name
}

// Sentence says what an event did in plain language ("Alice released
// T1059.001 PowerShell to blue"): a sentence of its own for the actions
// of missions and tests, else the audit page's name of the action.
func Sentence(ctx context.Context, e Event) string {
	what := testLabel(e.AttackID, e.Target)
	key := "home.activity." + e.Action
	if s := i18n.T(ctx, key, "Who", e.Actor, "What", what); s != key {
		return s
	}
	action := i18n.T(ctx, "audit.action."+e.Action)
	if strings.HasPrefix(action, "audit.action.") {
		action = e.Action
	}
	return i18n.T(ctx, "home.activity.fallback", "Who", e.Actor, "Action", action, "What", what)
}
