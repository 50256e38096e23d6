// Package auth holds who may do what in Violet. This file is the list of
// permission codes, which lives in code and is synced into the permissions
// table at start-up, and the built-in groups with their default grants.
package auth

// Permission is a `<entity>.<action>` code a route or rule requires.
type Permission string

// Permission codes. Adding one here is enough: start-up syncs the table and
// gives it to the admin group.
const (
	MissionRead          Permission = "mission.read"
	MissionReadAll       Permission = "mission.read_all"
	MissionCreate        Permission = "mission.create"
	MissionManage        Permission = "mission.manage"
	MissionTestRedWrite  Permission = "mission_test.red_write"
	MissionTestBlueWrite Permission = "mission_test.blue_write"
	MissionTestReview    Permission = "mission_test.review"
	EvidenceUpload       Permission = "evidence.upload"
	EvidenceDelete       Permission = "evidence.delete"
	TemplateRead         Permission = "template.read"
	TemplateWrite        Permission = "template.write"
	AttackRead           Permission = "attack.read"
	AttackSync           Permission = "attack.sync"
	UserRead             Permission = "user.read"
	UserInvite           Permission = "user.invite"
	UserManage           Permission = "user.manage"
	GroupManage          Permission = "group.manage"
	SettingsManage       Permission = "settings.manage"
	AuditRead            Permission = "audit.read"
	TrashManage          Permission = "trash.manage"
	MetricsRead          Permission = "metrics.read"
	// InsightsRead opens /insights, which aggregates the results of every
	// mission, member or not: a permission of its own, since mission.read
	// only reaches the viewer's missions.
	InsightsRead Permission = "insights.read"
)

// PermissionInfo describes a code for the permissions table.
type PermissionInfo struct {
	Code        Permission
	Description string
}

// Permissions returns every permission code with its description.
func Permissions() []PermissionInfo {
	return []PermissionInfo{
		{MissionRead, "Read missions the user is a member of"},
		{MissionReadAll, "Read every mission, member or not"},
		{MissionCreate, "Create missions"},
		{MissionManage, "Manage any mission: members, status, deletion"},
		{MissionTestRedWrite, "Record red-team execution on mission tests"},
		{MissionTestBlueWrite, "Record blue-team detection on released mission tests"},
		{MissionTestReview, "Review mission test results"},
		{EvidenceUpload, "Upload evidence to mission tests"},
		{EvidenceDelete, "Delete any evidence file"},
		{TemplateRead, "Read the test and scenario library"},
		{TemplateWrite, "Create, edit and import test and scenario templates"},
		{AttackRead, "Browse the ATT&CK catalogue"},
		{AttackSync, "Synchronise the ATT&CK catalogue"},
		{UserRead, "List users"},
		{UserInvite, "Invite users"},
		{UserManage, "Edit, deactivate and delete users and end their sessions"},
		{GroupManage, "Manage groups and their permissions"},
		{SettingsManage, "Change settings and the detection scale"},
		{AuditRead, "Read the audit log"},
		{TrashManage, "See and restore deleted items"},
		{MetricsRead, "Read the Prometheus metrics at /metrics"},
		{InsightsRead, "See trends and coverage across every mission"},
	}
}

// System group names.
const (
	GroupAdmin    = "admin"
	GroupRedTeam  = "redteam"
	GroupBlueTeam = "blueteam"
	GroupObserver = "observer"
)

// GroupInfo describes a built-in group and the permissions it starts with.
type GroupInfo struct {
	Name        string
	Description string
	// Permissions granted when the group is created; nil means every
	// permission, kept complete at every start-up.
	Permissions []Permission
}

// SystemGroups returns the built-in groups, which cannot be deleted.
//
// Only the admin group holds InsightsRead by default: the trends show the
// results of every mission to whoever holds it, which no team or client
// role implies (an observer may be a client who must not see other
// clients' missions). An admin gives it to the leads through a group.
func SystemGroups() []GroupInfo {
	return []GroupInfo{
		{GroupAdmin, "Administrators: every permission", nil},
		{GroupRedTeam, "Red-team operators: plan missions, run tests, keep the library", []Permission{
			MissionRead, MissionCreate, MissionTestRedWrite, EvidenceUpload,
			TemplateRead, TemplateWrite, AttackRead,
		}},
		{GroupBlueTeam, "Blue-team analysts: record detections on released tests", []Permission{
			MissionRead, MissionTestBlueWrite, EvidenceUpload, TemplateRead, AttackRead,
		}},
		{GroupObserver, "Observers and clients: read missions and reports", []Permission{
			MissionRead, TemplateRead, AttackRead,
		}},
	}
}
