// Package audit writes Violet's append-only audit log. An event is recorded
// through the same transaction as the change it describes, so the log holds
// exactly the changes that were committed. Secrets and tokens never go in.
package audit

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"

	"violet/ent"
	"violet/ent/schema"
	"violet/internal/auth"
	"violet/internal/textrule"
)

// Actions recorded in the log.
const (
	LoginSucceeded       = "login.succeeded"
	LoginFailed          = "login.failed"
	Logout               = "logout"
	SessionEnded         = "session.ended"
	PasswordChanged      = "password.changed"
	AccountUpdated       = "account.updated"
	InvitationCreated    = "invitation.created"
	InvitationRevoked    = "invitation.revoked"
	InvitationAccepted   = "invitation.accepted"
	UserUpdated          = "user.updated"
	UserGroupsChanged    = "user.groups_changed"
	UserCreated          = "user.created" // by a first single sign-on (internal/sso)
	UserDeactivated      = "user.deactivated"
	UserReactivated      = "user.reactivated"
	UserDeleted          = "user.deleted"
	UserRestored         = "user.restored"
	UserSessionsEnded    = "user.sessions_ended"
	GroupCreated         = "group.created"
	GroupUpdated         = "group.updated"
	GroupDeleted         = "group.deleted"
	GroupPermissionAdded = "group.permission_added"
	GroupPermissionGone  = "group.permission_removed"
	AttackSynced         = "attack.synced"

	TemplateCreated  = "template.created"
	TemplateUpdated  = "template.updated"
	TemplateDeleted  = "template.deleted"
	TemplateRestored = "template.restored"
	ScenarioCreated  = "scenario.created"
	ScenarioUpdated  = "scenario.updated"
	ScenarioDeleted  = "scenario.deleted"
	ScenarioRestored = "scenario.restored"
	LibraryImported  = "library.imported"

	MissionCreated       = "mission.created"
	MissionUpdated       = "mission.updated"
	MissionStatusChanged = "mission.status_changed"
	MissionDeleted       = "mission.deleted"
	MissionRestored      = "mission.restored"
	MissionMemberAdded   = "mission.member_added"
	MissionMemberChanged = "mission.member_changed"
	MissionMemberRemoved = "mission.member_removed"
	MissionPlanChanged   = "mission.plan_changed"
	MissionTestReviewed  = "mission_test.reviewed"
	MissionTestStarted   = "mission_test.started"
	MissionTestStopped   = "mission_test.stopped"
	MissionTestRedSaved  = "mission_test.red_saved"
	MissionTestReleased  = "mission_test.released"
	MissionTestBlueSaved = "mission_test.blue_saved"
	MissionTestSetAside  = "mission_test.set_aside"
	MissionTestReopened  = "mission_test.reopened"

	DetectionLevelCreated = "detection_level.created"
	DetectionLevelUpdated = "detection_level.updated"
	DetectionLevelDeleted = "detection_level.deleted"
	SettingChanged        = "setting.changed"

	// The registry of defensive tools (internal/tools).
	ToolCreated     = "tool.created"
	ToolUpdated     = "tool.updated"
	ToolDeactivated = "tool.deactivated"
	ToolReactivated = "tool.reactivated"
	ToolDeleted     = "tool.deleted"
	ToolRestored    = "tool.restored"

	// AccountNotificationsChanged is a user choosing which kinds of
	// notification to receive.
	AccountNotificationsChanged = "account.notifications_changed"

	// Evidence files of mission tests: uploaded, downloaded (the original,
	// not its preview) and deleted (soft).
	EvidenceUploaded   = "evidence.uploaded"
	EvidenceDownloaded = "evidence.downloaded"
	EvidenceDeleted    = "evidence.deleted"

	// AccessDenied is a write refused with 403 (a role on a mission, a
	// missing permission): who tried what, on which route and object.
	AccessDenied = "access.denied"

	// Second factors (internal/factor): an authenticator app confirmed or
	// removed, recovery codes replaced or one spent at sign-in, and a
	// wrong code at sign-in or re-authentication (counted by the login
	// throttle). Never a code or secret in the details.
	FactorTOTPEnrolled        = "factor.totp_enrolled"
	FactorTOTPRemoved         = "factor.totp_removed"
	FactorRecoveryRegenerated = "factor.recovery_regenerated"
	FactorRecoveryUsed        = "factor.recovery_used"
	LoginSecondFactorFailed   = "login.second_factor_failed"
	// Passkeys (internal/passkey): one registered or removed.
	FactorPasskeyAdded   = "factor.passkey_added"
	FactorPasskeyRemoved = "factor.passkey_removed"
	// Administration → Sign-in (internal/signin): providers set up by an
	// admin, the "require single sign-on" policy, and the break-glass
	// accounts that may still sign in with a password under it. Never a
	// client secret in the details.
	SignInProviderCreated = "signin.provider_created"
	SignInProviderUpdated = "signin.provider_updated"
	SignInProviderDeleted = "signin.provider_deleted"
	SignInPolicyChanged   = "signin.policy_changed"
	UserBreakGlassChanged = "user.break_glass_changed"
)

// A person linked an identity provider's identity to their account, or
// unlinked it (internal/admission, internal/account).
const (
	UserIdentityLinked   = "user.identity_linked"
	UserIdentityUnlinked = "user.identity_unlinked"
)

// API tokens and service accounts (internal/apitoken): a token made or
// revoked (never the token itself in the details), every call of the
// JSON API made with one, and an account for automation made by an admin.
const (
	APITokenCreated       = "api_token.created"
	APITokenRevoked       = "api_token.revoked"
	APICall               = "api.call"
	ServiceAccountCreated = "user.service_account_created"
)

// Actions lists every action, for the audit page's filter.
func Actions() []string {
	return []string{
		LoginSucceeded, LoginFailed, Logout, SessionEnded, PasswordChanged, AccountUpdated, AccountNotificationsChanged,
		InvitationCreated, InvitationRevoked, InvitationAccepted,
		UserUpdated, UserCreated, UserGroupsChanged, UserDeactivated, UserReactivated, UserDeleted, UserRestored, UserSessionsEnded,
		GroupCreated, GroupUpdated, GroupDeleted, GroupPermissionAdded, GroupPermissionGone,
		AttackSynced,
		TemplateCreated, TemplateUpdated, TemplateDeleted, TemplateRestored,
		ScenarioCreated, ScenarioUpdated, ScenarioDeleted, ScenarioRestored, LibraryImported,
		MissionCreated, MissionUpdated, MissionStatusChanged, MissionDeleted, MissionRestored,
		MissionMemberAdded, MissionMemberChanged, MissionMemberRemoved, MissionPlanChanged, MissionTestReviewed,
		MissionTestStarted, MissionTestStopped, MissionTestRedSaved, MissionTestReleased,
		MissionTestBlueSaved, MissionTestSetAside, MissionTestReopened,
		DetectionLevelCreated, DetectionLevelUpdated, DetectionLevelDeleted, SettingChanged,
		ToolCreated, ToolUpdated, ToolDeactivated, ToolReactivated, ToolDeleted, ToolRestored,
		EvidenceUploaded, EvidenceDownloaded, EvidenceDeleted,
		AccessDenied,
		FactorTOTPEnrolled, FactorTOTPRemoved, FactorRecoveryRegenerated, FactorRecoveryUsed, LoginSecondFactorFailed,
		FactorPasskeyAdded, FactorPasskeyRemoved, UserIdentityLinked, UserIdentityUnlinked,
		SignInProviderCreated, SignInProviderUpdated, SignInProviderDeleted, SignInPolicyChanged, UserBreakGlassChanged,
		APITokenCreated, APITokenRevoked, APICall, ServiceAccountCreated,
	}
}

// Event is one thing that happened. The actor, address and request id come
// from the context (auth.FromContext, auth.RequestInfoFrom).
type Event struct {
	Action      string
	TargetType  string // "user", "group", "invitation", "session"
	TargetID    string
	TargetLabel string
	Details     map[string]any
	// Actor overrides the context's viewer, for events where nobody is
	// signed in yet (a login, an accepted invitation).
	Actor *auth.Viewer
}

// Record writes e through events, which should belong to the transaction of
// the change (tx.AuditEvent).
//
// The label is what somebody typed or named (an email tried at sign-in, a
// mission's name): it is cut to the column's length and made valid text, so
// that recording a refusal can never fail because of what was refused.
func Record(ctx context.Context, events *ent.AuditEventClient, e Event) error {
	create := events.Create().
		SetAction(e.Action).
		SetTargetType(e.TargetType).
		SetTargetID(e.TargetID).
		SetTargetLabel(Label(e.TargetLabel))
	actor := e.Actor
	if actor == nil {
		actor = auth.FromContext(ctx)
	}
	if actor != nil {
		create.SetActorID(actor.UserID).SetActorLabel(actor.Email)
	}
	if info := auth.RequestInfoFrom(ctx); info != (auth.RequestInfo{}) {
		create.SetIP(info.IP).SetRequestID(info.RequestID)
	}
	details := e.Details
	if info := auth.RequestInfoFrom(ctx); info.Token != "" {
		// Done through the API: the token's name says which script.
		details = maps.Clone(details)
		if details == nil {
			details = map[string]any{}
		}
		details["api_token"] = info.Token
	}
	if len(details) > 0 {
		create.SetDetails(details)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// labelRule is the audit label column's length, from the ent schema.
func labelRule() textrule.Rule { return textrule.For(schema.AuditEvent{}, "target_label") }

// Label returns s as it is stored as an audit label: NUL bytes and invalid
// UTF-8 replaced, cut to the column's length without splitting a
// character. The login throttle counts failures by this form of the email.
func Label(s string) string {
	return Fit(strings.ReplaceAll(s, "\x00", "\uFFFD"), labelRule().Max)
}

// Fit makes s valid UTF-8 (invalid bytes replaced) of at most max bytes,
// cut without splitting a character: what a client sent, made fit for an
// audit column. NUL bytes are the caller's choice (replaced or dropped).
func Fit(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
