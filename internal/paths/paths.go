// Package paths names every URL Violet answers. The route table
// (handlers/routes.go) is built from these templates, and handlers and
// views build links with URL(paths.X, params…), so a mistyped route is a
// compile error and a wrong number of parameters a test failure, never a
// 404 found by a user. A test checks that the route table and this list
// hold the same templates.
package paths

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// The route templates, in echo's syntax (":name" is a parameter, "*" the
// rest of the path), grouped as in the route table.
const (
	Home   = "/"
	Diag   = "/diag"
	DiagDB = "/api/v1/diag/db"
	// The JSON API's document, and the same rendered for people.
	APIDocument = "/api/v1/openapi.json"
	APIDocs     = "/api/docs"
	Healthz     = "/healthz"
	Readyz      = "/readyz"
	Metrics     = "/metrics"
	Events      = "/events"

	Login  = "/login"
	Logout = "/logout"
	// LoginSecondFactor is the second step of a sign-in: a code of the
	// authenticator app or a recovery code.
	LoginSecondFactor = "/login/second-factor"
	// Single sign-on through the OpenID Connect provider (internal/sso).
	OIDCStart    = "/login/oidc/start"
	OIDCCallback = "/login/oidc/callback"
	// LoginLink asks the password of the account that has the e-mail of
	// an identity a provider vouched for, to link the two.
	LoginLink = "/login/link"
	// Single sign-on through a SAML identity provider (internal/samlsp):
	// the service provider's metadata (its entity ID), the start, and the
	// assertion consumer service the provider posts the browser back to.
	SAMLMetadata = "/saml/:key/metadata"
	SAMLStart    = "/login/saml/:key"
	SAMLACS      = "/saml/:key/acs"
	// Sign-in with a passkey: alone (the options, then the browser's
	// answer), or as the second step of a pending sign-in.
	LoginPasskey                   = "/login/passkey"
	LoginPasskeyFinish             = "/login/passkey/finish"
	LoginSecondFactorPasskey       = "/login/second-factor/passkey"
	LoginSecondFactorPasskeyFinish = "/login/second-factor/passkey/finish"

	Invitations            = "/admin/invitations"
	InvitationRevoke       = "/admin/invitations/:id/revoke"
	UserResetInvitation    = "/admin/users/:id/reset-invitation"
	Invitation             = "/invitations/:token"
	Account                = "/account"
	AccountProfile         = "/account/profile"
	AccountPassword        = "/account/password"
	AccountLanguage        = "/account/language"
	AccountEndOtherSession = "/account/sessions/end-others"
	AccountEndSession      = "/account/sessions/:id/end"
	// Second factors: the security page, setting up the authenticator
	// app (start, then confirm with a first code), removing it, new
	// recovery codes.
	AccountSecurity      = "/account/security"
	AccountTOTP          = "/account/security/totp"
	AccountTOTPConfirm   = "/account/security/totp/confirm"
	AccountTOTPRemove    = "/account/security/totp/remove"
	AccountRecoveryCodes = "/account/security/recovery-codes"
	// Passkeys (internal/passkey): adding one (the options, then the
	// browser's answer), renaming, removing.
	AccountPasskeys       = "/account/security/passkeys"
	AccountPasskeysFinish = "/account/security/passkeys/finish"
	AccountPasskeyRename  = "/account/security/passkeys/:id/rename"
	AccountPasskeyRemove  = "/account/security/passkeys/:id/remove"
	// Identities at identity providers: link one to the account (the
	// provider's sign-in follows), unlink one.
	AccountIdentityLink   = "/account/security/identities/link"
	AccountIdentityUnlink = "/account/security/identities/:id/unlink"
	// API tokens (internal/apitoken): the viewer's own, made and revoked
	// from the account page.
	AccountAPITokens      = "/account/api-tokens"
	AccountAPITokenRevoke = "/account/api-tokens/:id/revoke"
	// Service accounts (internal/apitoken): accounts for automation that
	// only ever use API tokens, made and given tokens by user managers.
	ServiceAccounts           = "/admin/service-accounts"
	ServiceAccount            = "/admin/service-accounts/:id"
	ServiceAccountTokens      = "/admin/service-accounts/:id/tokens"
	ServiceAccountTokenRevoke = "/admin/service-accounts/:id/tokens/:token/revoke"

	Notifications           = "/notifications"
	NotificationsBell       = "/notifications/bell"
	NotificationsReadAll    = "/notifications/read-all"
	NotificationPreferences = "/notifications/preferences"
	NotificationRead        = "/notifications/:id/read"
	NotificationOpen        = "/notifications/:id/open"

	Users                 = "/admin/users"
	User                  = "/admin/users/:id"
	UserGroups            = "/admin/users/:id/groups"
	UserDeactivate        = "/admin/users/:id/deactivate"
	UserReactivate        = "/admin/users/:id/reactivate"
	UserDelete            = "/admin/users/:id/delete"
	UserRestore           = "/admin/users/:id/restore"
	UserEndSessions       = "/admin/users/:id/end-sessions"
	UserRemoveTOTP        = "/admin/users/:id/remove-totp"
	Groups                = "/admin/groups"
	GroupNew              = "/admin/groups/new"
	Group                 = "/admin/groups/:id"
	GroupDelete           = "/admin/groups/:id/delete"
	GroupPermissions      = "/admin/groups/:id/permissions"
	GroupPermissionToggle = "/admin/groups/:id/permissions/:code"
	Audit                 = "/admin/audit"
	Trash                 = "/admin/trash"

	AttackSync       = "/admin/attack-sync"
	AttackSyncURL    = "/admin/attack-sync/url"
	AttackSyncUpload = "/admin/attack-sync/upload"
	AttackSyncJob    = "/admin/attack-sync/:id"
	Attack           = "/attack"
	AttackSearch     = "/attack/search"
	AttackPicker     = "/attack/picker"
	AttackEntry      = "/attack/:external_id"

	Scenarios          = "/library/scenarios"
	ScenarioNew        = "/library/scenarios/new"
	Scenario           = "/library/scenarios/:id"
	ScenarioCandidates = "/library/scenarios/:id/candidates"
	ScenarioTests      = "/library/scenarios/:id/tests"
	ScenarioTestMove   = "/library/scenarios/:id/tests/move"
	ScenarioTestRemove = "/library/scenarios/:id/tests/remove"
	ScenarioOrder      = "/library/scenarios/:id/order"
	ScenarioDuplicate  = "/library/scenarios/:id/duplicate"
	ScenarioDelete     = "/library/scenarios/:id/delete"
	ScenarioRestore    = "/library/scenarios/:id/restore"

	Library              = "/library"
	Templates            = "/library/tests"
	TemplateNew          = "/library/tests/new"
	TemplatePreview      = "/library/tests/preview"
	TemplatesBulkAdd     = "/library/tests/bulk/add"
	TemplatesBulkDelete  = "/library/tests/bulk/delete"
	Template             = "/library/tests/:id"
	TemplateEdit         = "/library/tests/:id/edit"
	TemplateDuplicate    = "/library/tests/:id/duplicate"
	TemplateDelete       = "/library/tests/:id/delete"
	TemplateRestore      = "/library/tests/:id/restore"
	LibraryImport        = "/library/import"
	LibraryImportAtomic  = "/library/import/atomic"
	LibraryImportLibrary = "/library/import/library"
	LibraryImportJob     = "/library/import/:id"
	LibraryExport        = "/library/export"

	// The VECTR history import: the upload, then the mapping confirmed
	// and run (internal/vectr).
	LibraryImportVectr    = "/library/import/vectr"
	LibraryImportVectrRun = "/library/import/vectr/run"

	// Trends across missions (internal/insights): the page, its charts'
	// data as CSV (?chart=tactics|tools|coverage) and its coverage as an
	// ATT&CK Navigator layer.
	Insights          = "/insights"
	InsightsCSV       = "/insights.csv"
	InsightsNavigator = "/insights/navigator.json"

	Missions                = "/missions"
	MissionNew              = "/missions/new"
	MissionSettings         = "/missions/:id/settings"
	MissionStatus           = "/missions/:id/status"
	MissionDelete           = "/missions/:id/delete"
	MissionRestore          = "/missions/:id/restore"
	MissionMembers          = "/missions/:id/members"
	MissionMemberCandidates = "/missions/:id/members/candidates"
	MissionMemberRole       = "/missions/:id/members/:user/role"
	MissionMemberRemove     = "/missions/:id/members/:user/remove"
	MissionCategories       = "/missions/:id/categories"
	MissionCategory         = "/missions/:id/categories/:cat"
	MissionCategoryMove     = "/missions/:id/categories/:cat/move"
	MissionCategoryDelete   = "/missions/:id/categories/:cat/delete"

	Mission                  = "/missions/:id"
	MissionFigures           = "/missions/:id/figures"
	MissionTimeline          = "/missions/:id/timeline"
	MissionGaps              = "/missions/:id/gaps"
	MissionRetest            = "/missions/:id/retest"
	MissionRetestLinks       = "/missions/:id/retests"
	MissionCompare           = "/missions/:id/compare"
	MissionExecutionLog      = "/missions/:id/execution-log"
	MissionExecutionLogApply = "/missions/:id/execution-log/apply"
	PlanScenarios            = "/missions/:id/plan/scenarios"
	PlanTests                = "/missions/:id/plan/tests"
	PlanTestNew              = "/missions/:id/plan/tests/new"
	PlanTestMove             = "/missions/:id/plan/tests/:test/move"
	PlanTestCategory         = "/missions/:id/plan/tests/:test/category"
	PlanTestRemove           = "/missions/:id/plan/tests/:test/remove"
	PlanNavigator            = "/missions/:id/plan/navigator"
	PlanNavigatorConfirm     = "/missions/:id/plan/navigator/confirm"
	MissionTest              = "/missions/:id/tests/:test"
	MissionTestStart         = "/missions/:id/tests/:test/start"
	MissionTestStop          = "/missions/:id/tests/:test/stop"
	MissionTestRed           = "/missions/:id/tests/:test/red"
	MissionTestExpected      = "/missions/:id/tests/:test/expected-rules"
	MissionTestRelease       = "/missions/:id/tests/:test/release"
	MissionTestSetAside      = "/missions/:id/tests/:test/set-aside"
	MissionTestBlue          = "/missions/:id/tests/:test/blue"
	MissionTestReview        = "/missions/:id/tests/:test/review"
	MissionTestReopen        = "/missions/:id/tests/:test/reopen"
	MissionTestsBulk         = "/missions/:id/tests/bulk"
	Evidence                 = "/missions/:id/tests/:test/evidence"
	EvidenceFile             = "/missions/:id/tests/:test/evidence/:ev"
	EvidencePreview          = "/missions/:id/tests/:test/evidence/:ev/preview"
	EvidenceDelete           = "/missions/:id/tests/:test/evidence/:ev/delete"
	MissionReport            = "/missions/:id/report"
	MissionReportCSS         = "/missions/:id/report/page.css"
	MissionExportNavigator   = "/missions/:id/export/navigator.json"
	MissionExportTestsCSV    = "/missions/:id/export/tests.csv"
	MissionExportMissionJSON = "/missions/:id/export/mission.json"
	// The whole mission as one archive, and its import (issue 22).
	MissionExportArchive = "/missions/:id/export/mission.zip"
	MissionImport        = "/missions/import"
	MissionImportConfirm = "/missions/import/confirm"

	DetectionLevels        = "/admin/detection-levels"
	DetectionLevel         = "/admin/detection-levels/:id"
	DetectionLevelMove     = "/admin/detection-levels/:id/move"
	DetectionLevelRetire   = "/admin/detection-levels/:id/retire"
	DetectionLevelUnretire = "/admin/detection-levels/:id/unretire"
	DetectionLevelDelete   = "/admin/detection-levels/:id/delete"
	Tools                  = "/admin/tools"
	Tool                   = "/admin/tools/:id"
	ToolDeactivate         = "/admin/tools/:id/deactivate"
	ToolReactivate         = "/admin/tools/:id/reactivate"
	ToolDelete             = "/admin/tools/:id/delete"
	ToolRestore            = "/admin/tools/:id/restore"
	ScaleCSS               = "/static-gen/levels.css"
	Settings               = "/admin/settings"

	// Administration → Sign-in (internal/signin): the providers set up by
	// admins (AdminSignInNew?kind=oidc|saml adds one), the "require single
	// sign-on" policy and the break-glass accounts.
	AdminSignIn         = "/admin/sign-in"
	AdminSignInNew      = "/admin/sign-in/new"
	AdminSignInPolicy   = "/admin/sign-in/policy"
	AdminSignInProvider = "/admin/sign-in/:id"
	AdminSignInEnable   = "/admin/sign-in/:id/enable"
	AdminSignInDisable  = "/admin/sign-in/:id/disable"
	AdminSignInDelete   = "/admin/sign-in/:id/delete"
	AdminBreakGlass     = "/admin/users/:id/break-glass"
)

// URL fills the parameters of template in order and returns the path.
// Each value is a uuid.UUID, a string or anything fmt prints; strings are
// escaped as one path segment. A count that does not match the template
// panics: it is a programming error, caught by the first test that
// renders the link.
func URL(template string, params ...any) string {
	var b strings.Builder
	b.Grow(len(template) + 36*len(params))
	n := 0
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != ':' || i == 0 || template[i-1] != '/' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(template[i:], '/')
		if end < 0 {
			end = len(template) - i
		}
		if n >= len(params) {
			panic(fmt.Sprintf("paths.URL(%q): %d parameters, want more", template, len(params)))
		}
		b.WriteString(segment(params[n]))
		n++
		i += end - 1
	}
	if n != len(params) {
		panic(fmt.Sprintf("paths.URL(%q): %d parameters, want %d", template, len(params), n))
	}
	return b.String()
}

// segment is one parameter as a path segment.
func segment(v any) string {
	switch x := v.(type) {
	case uuid.UUID:
		return x.String()
	case string:
		return url.PathEscape(x)
	case fmt.Stringer:
		return url.PathEscape(x.String())
	default:
		return url.PathEscape(fmt.Sprint(x))
	}
}

// Query returns path with the query built from pairs of keys and values
// (key1, value1, key2, value2…), leaving out empty values.
func Query(path string, pairs ...string) string {
	if len(pairs)%2 != 0 {
		panic("paths.Query: keys and values must come in pairs")
	}
	q := url.Values{}
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Add(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
