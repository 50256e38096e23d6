package demo

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/schema"
	"violet/internal/sigma"
)

// The demo's own Sigma rules, expected to fire on the scheduled task test
// (which the blue team has not rated: the mission's gaps view lists them).
// They are written for the demo, with ids of their own, so the demo needs
// no Sigma import; a later import of other rules leaves them as they are.
const (
	ruleSchtasksUserFolder = `title: Scheduled Task Created From a User Folder With Schtasks
id: 5b0e6f2a-7c1d-4e8b-9a3f-2d6c8e1b4a70
status: test
description: Detects schtasks.exe creating a scheduled task whose action runs a program from a folder any user may write to (AppData, Temp, Public), a common way for an intruder to persist on a workstation.
references:
    - https://attack.mitre.org/techniques/T1053/005/
author: Violet demo
date: 2026-01-15
tags:
    - attack.persistence
    - attack.execution
    - attack.t1053.005
logsource:
    product: windows
    category: process_creation
detection:
    selection_img:
        - Image|endswith: '\schtasks.exe'
        - OriginalFileName: 'schtasks.exe'
    selection_create:
        CommandLine|contains: ' /create '
    selection_path:
        CommandLine|contains:
            - '\AppData\'
            - '\Temp\'
            - '\Users\Public\'
    condition: all of selection_*
falsepositives:
    - Installers that schedule their updater from the user's profile
level: high
`
	ruleTaskRegistered = `title: Scheduled Task Registered
id: 9d4c2b71-3e5a-4f06-8b1d-6a7e0c9f2d35
status: stable
description: Detects the registration of a new scheduled task (Windows Security event 4698), whatever created it, so that tasks made through the API or PowerShell reach the SIEM as well as those made by schtasks.exe.
references:
    - https://learn.microsoft.com/en-us/windows/security/threat-protection/auditing/event-4698
author: Violet demo
date: 2026-01-15
tags:
    - attack.persistence
    - attack.t1053.005
logsource:
    product: windows
    service: security
    definition: 'Requirements: the Audit Other Object Access Events policy must be enabled'
detection:
    selection:
        EventID: 4698
    filter_main_system:
        SubjectUserSid: 'S-1-5-18'
    condition: selection and not 1 of filter_main_*
falsepositives:
    - Software updates and management agents that register their tasks
level: medium
`
)

// expectedRules returns the ids of the catalogue's rules for the demo's
// rule files, adding those the catalogue lacks (known by their rule id, as
// a Sigma import would). A rule deleted from the catalogue stays deleted
// and is not expected.
func expectedRules(ctx context.Context, tx *ent.Tx, files []string) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	for i, f := range files {
		r, err := sigma.Parse(fmt.Sprintf("demo-rule-%d.yml", i+1), []byte(f))
		if err != nil {
			return nil, fmt.Errorf("a demo rule: %w", err)
		}
		known, err := tx.DetectionRule.Query().Where(detectionrule.RuleUID(r.UID)).Only(schema.SkipSoftDelete(ctx))
		switch {
		case err == nil && known.DeletedAt != nil:
			continue
		case err == nil:
			ids = append(ids, known.ID)
			continue
		case !ent.IsNotFound(err):
			return nil, fmt.Errorf("look for the demo rule %s: %w", r.UID, err)
		}
		created, err := tx.DetectionRule.Create().
			SetRuleUID(r.UID).SetTitle(r.Title).SetStatus(r.Status).SetLevel(r.Level).
			SetDescription(r.Description).SetAuthor(r.Author).SetLogsource(r.Logsource).
			SetTags(r.Tags).SetTechniques(r.Techniques).SetReferences(r.References).
			SetDate(r.Date).SetModified(r.Modified).SetSource("demo").
			SetContent(r.Content).SetContentSha256(r.SHA256).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("add the demo rule %q: %w", r.Title, err)
		}
		ids = append(ids, created.ID)
	}
	return ids, nil
}
