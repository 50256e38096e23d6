package missionread

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/testkit/testdb"
	"violet/views/report"
)

// seedReportMission makes a mission of n tests that covers what the report
// shows differently: every state, released or not, scenarios (one
// deleted), executors (one account deleted), a retired level in use,
// techniques, sub-techniques and tactic tags, tactics outside the
// catalogue and tags without tactics, markdown notes (some repeated,
// some unique), and image and other evidence (some on unreleased tests).
// It returns the lead's and the blue member's ids.
func seedReportMission(t *testing.T, db *sql.DB, n int) (missionID, lead, blue uuid.UUID) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	one := func(q string, args ...any) uuid.UUID {
		t.Helper()
		var v uuid.UUID
		if err := db.QueryRow(q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	lead = one(`INSERT INTO users (email, password_hash, display_name) VALUES ('lead@example.com', 'x', 'Léa Lead') RETURNING id`)
	blue = one(`INSERT INTO users (email, password_hash, display_name) VALUES ('blue@example.com', 'x', 'Bob <Blue>') RETURNING id`)
	gone := one(`INSERT INTO users (email, password_hash, display_name, deleted_at) VALUES ('gone@example.com', 'x', 'Gone', now()) RETURNING id`)
	missionID = one(`INSERT INTO missions (name, scope, description) VALUES ('Opération « Violet »', 'Lab', 'A *mission*.') RETURNING id`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'lead'), ($1, $3, 'blue')`, missionID, lead, blue)
	scA := one(`INSERT INTO mission_scenarios (mission_id, name, position) VALUES ($1, 'Initial access', 1) RETURNING id`, missionID)
	scGone := one(`INSERT INTO mission_scenarios (mission_id, name, position, deleted_at) VALUES ($1, 'Gone', 0, now()) RETURNING id`, missionID)
	retired := one(`INSERT INTO detection_levels (name, score, colour, counts_as_detected, position, retired)
		VALUES ('Old level', 3, '#123456', true, 99, true) RETURNING id`)
	exec(`INSERT INTO mission_tests (mission_id, mission_scenario_id, position, name, platforms, state, state_reason,
			released_to_blue, detection_level_id, executed_by_id, started_at, ended_at, command, source_host, target_host,
			red_notes, detected_at, alert_name, log_source, blue_notes)
		SELECT $1, CASE i % 4 WHEN 0 THEN $2::uuid WHEN 1 THEN $3::uuid END, i / 2, 'Test ' || i || ' <é>', '["windows"]',
			(ARRAY['pending','running','executed','reviewed','skipped','blocked'])[i % 6 + 1],
			CASE WHEN i % 6 >= 4 THEN 'Out of scope' ELSE '' END,
			i % 3 <> 0,
			CASE WHEN i % 6 IN (2, 3) THEN
				CASE WHEN i % 5 = 0 THEN $4::uuid ELSE (SELECT id FROM detection_levels WHERE NOT retired ORDER BY position OFFSET (i % 3) LIMIT 1) END
			END,
			CASE WHEN i % 6 BETWEEN 1 AND 3 THEN CASE WHEN i % 7 = 0 THEN $6::uuid ELSE $5::uuid END END,
			CASE WHEN i % 6 BETWEEN 1 AND 3 THEN timestamptz '2026-11-20 09:00Z' + i * interval '5 minutes' END,
			CASE WHEN i % 6 BETWEEN 2 AND 3 THEN timestamptz '2026-11-20 09:02Z' + i * interval '5 minutes' END,
			CASE WHEN i % 6 BETWEEN 1 AND 3 THEN 'powershell -enc "SQBFAFgA" & <x>' ELSE '' END,
			CASE WHEN i % 2 = 0 THEN 'kali-01' ELSE '' END, 'ws-' || i,
			CASE i % 4 WHEN 0 THEN 'n/a' WHEN 1 THEN E'Ran **elevated**, run ' || i || E'.\n\n- one\n- two' ELSE '' END,
			CASE WHEN i % 6 IN (2, 3) THEN timestamptz '2026-11-20 09:10Z' + i * interval '5 minutes' END,
			CASE WHEN i % 6 IN (2, 3) THEN 'Suspicious PowerShell' ELSE '' END,
			CASE WHEN i % 2 = 1 THEN 'Sysmon' ELSE '' END,
			CASE WHEN i % 3 = 1 THEN 'Alert ' || i || ' in the *SIEM*, see [the rule](https://example.com/r).' ELSE '' END
		FROM generate_series(0, $7::int - 1) i`, missionID, scA, scGone, retired, lead, gone, n)
	exec(`INSERT INTO mission_tests (mission_id, position, name, platforms, released_to_blue, deleted_at)
		VALUES ($1, 3, 'Deleted test', '[]', true, now())`, missionID)
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, url, tactics)
		SELECT mt.id, 'subtechnique', 'T1059.00' || (mt.position % 3 + 1), 'Command/Scripting ' || (mt.position % 3),
			'https://attack.mitre.org/techniques/T1059/', '[{"id": "TA0002", "name": "Execution", "shortname": "execution"}]'
		FROM mission_tests mt WHERE mt.mission_id = $1 AND mt.deleted_at IS NULL`, missionID)
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, url, tactics)
		SELECT mt.id, 'technique', 'T1003', 'OS Credential Dumping', '',
			'[{"id": "TA0006", "name": "Credential Access", "shortname": "credential-access"}, {"id": "TA9999", "name": "Made/Up Tactic"}]'
		FROM mission_tests mt WHERE mt.mission_id = $1 AND mt.position % 2 = 0`, missionID)
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, url, tactics)
		SELECT mt.id, 'technique', 'T1082', 'System Information Discovery', '', NULL
		FROM mission_tests mt WHERE mt.mission_id = $1 AND mt.position % 5 = 1`, missionID)
	exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name, url, tactics)
		SELECT mt.id, 'tactic', 'TA0007', 'Discovery', '', NULL
		FROM mission_tests mt WHERE mt.mission_id = $1 AND mt.position % 3 = 0`, missionID)
	exec(`INSERT INTO evidence_files (mission_test_id, side, original_name, stored_key, content_type, size, sha256, uploaded_by_id, caption, created_at)
		SELECT mt.id, CASE WHEN k = 1 THEN 'red' ELSE 'blue' END, 'file-' || mt.name || '-' || k || CASE WHEN k = 1 THEN '.png' ELSE '.log' END,
			'key-' || mt.id || k, CASE WHEN k = 1 THEN 'image/png' ELSE 'text/plain' END, 100 * k + mt.position,
			repeat('ab', 32), $2::uuid, CASE WHEN k = 1 THEN 'caption ' || mt.position ELSE '' END,
			timestamptz '2026-11-21 10:00Z' + mt.position * interval '1 minute' + k * interval '1 second'
		FROM mission_tests mt, generate_series(1, 2) k WHERE mt.mission_id = $1 AND mt.position % 4 = 1`, missionID, lead)
	return missionID, lead, blue
}

// TestReportOfAVariedMission renders the report of a mission of 250 tests
// (several batches of notes) for a lead and a blue member, in English and
// in French: everything the seed varies reaches the page. (When the read
// model was rewritten for streaming, this test compared its pages byte for
// byte with the old read model's; they were identical.)
func TestReportOfAVariedMission(t *testing.T) {
	db, client, _ := testdb.Open(t)
	missionID, lead, blue := seedReportMission(t, db, 250)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	generated := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, who := range []struct {
		role string
		id   uuid.UUID
	}{{"lead", lead}, {"blue", blue}} {
		for _, lang := range []string{"en", "fr"} {
			v := auth.NewViewer(who.id, who.role+"@example.com", who.role, lang, uuid.New(), nil, []string{string(auth.MissionRead)})
			ctx := auth.NewContext(context.Background(), v)
			ctx = i18n.NewContext(ctx, catalog.Pick(lang, ""))
			ctx = i18n.WithZone(ctx, time.FixedZone("CET", 3600))
			a, err := mission.Load(ctx, client, v, missionID)
			if err != nil {
				t.Fatal(err)
			}
			render := func(load func(context.Context, *ent.Client, *sql.DB, *mission.Access, time.Time) (report.Report, error)) []byte {
				t.Helper()
				r, err := load(ctx, client, db, a, generated)
				if err != nil {
					t.Fatal(err)
				}
				r.Assets, r.PageCSS = assets{}, "/page.css"
				var b bytes.Buffer
				if err := report.Page(r).Render(ctx, &b); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
			got := render(Report)
			// The seeded variety reached the page.
			page := string(got)
			for _, s := range []string{`heatmap-column" data-tactic="TA9999"`, "Old level", "report-evidence-image", "report-appendix-row", "<strong>"} {
				if !strings.Contains(page, s) {
					t.Errorf("%s, %s: the report lacks %q", who.role, lang, s)
				}
			}
		}
	}
}

// assets names static files as themselves.
type assets struct{}

func (assets) URL(name string) string { return "/static/" + name }
