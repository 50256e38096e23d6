package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"violet/handlers/api"
	"violet/internal/account"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/paths"
	"violet/internal/tools"
	"violet/static"
	accountview "violet/views/account"
)

// access is what a route requires: public, or a permission code. Every
// route declares one; a test walks the table and fails on a route that
// does not: access is denied by default, never granted by omission.
type access string

// public marks a route anyone may call; signedIn one any signed-in user
// may call.
const (
	public   access = "public"
	signedIn access = "signed-in"
)

// need declares that a route requires a permission.
func need(p auth.Permission) access { return access(p) }

// route is one entry of the route table: what a route answers, who may
// call it, and how the middleware treats it. The middleware reads these
// settings for the matched route (routeOf), never by matching paths.
type route struct {
	method  string
	path    string
	access  access
	handler echo.HandlerFunc
	// body is the request body limit in bytes; 0 means formBodyLimit.
	// Routes that take uploads stream their body and set a larger one.
	body int64
	// noSession skips loading the session: assets and probes must not
	// cost a database query. Such a route cannot know its viewer, so it
	// is public.
	noSession bool
	// gzip compresses the response: static assets are large and the same
	// for everyone.
	gzip bool
	// stream marks a response that stays open by design (the event
	// stream). It bounds itself, so it gets no request deadline, and it
	// is left out of the request-duration histogram, whose top bucket it
	// would only stretch.
	stream bool
	// quiet logs the request line at debug level: probes and assets are
	// frequent and say nothing about what people do.
	quiet bool
	// bearer also admits a request carrying METRICS_TOKEN as a bearer
	// token (metricsAccess), for scrapers that cannot sign in.
	bearer bool
	// crossSite exempts the route from the cross-origin protection: the
	// SAML assertion consumer service, which an identity provider's page
	// posts to from another site by design (HTTP-POST binding). Its
	// request-ID cookie, RelayState and signed assertion stand in for it.
	crossSite bool
	// enrol opens the route to a session that must set up a second
	// factor first (auth.IsEnrolMethod; requireAccess); enrolClosedBy
	// names a query parameter that closes it again (a mission's stream).
	enrol         bool
	enrolClosedBy string
	// roles are the mission roles a mission route serves (lead, red,
	// blue, observer). The workflow behind it checks the role (once);
	// the table says it, for readers and for the mission-role matrix
	// test, which fails when a route serves a role it does not declare
	// or refuses one it does.
	roles []string
	// api is the JSON API operation the route serves (apiroutes.go):
	// a bearer token with one of its scopes stands in for the session.
	api *api.Operation
}

// bodyLimit is the route's request body limit.
func (r route) bodyLimit() int64 {
	if r.body == 0 {
		return formBodyLimit
	}
	return r.body
}

// routeOption sets one of a route's settings in the table.
type routeOption func(*route)

// get and post build the route table's entries.
func get(path string, a access, h echo.HandlerFunc, opts ...routeOption) route {
	return newRoute(http.MethodGet, path, a, h, opts)
}

func post(path string, a access, h echo.HandlerFunc, opts ...routeOption) route {
	return newRoute(http.MethodPost, path, a, h, opts)
}

func newRoute(method, path string, a access, h echo.HandlerFunc, opts []routeOption) route {
	r := route{method: method, path: path, access: a, handler: h}
	for _, f := range opts {
		f(&r)
	}
	return r
}

// bodyUpTo sets a route's body limit.
func bodyUpTo(n int64) routeOption { return func(r *route) { r.body = n } }

// The settings that take no value, one per flag of route.
func sessionless(r *route)   { r.noSession = true }
func compressed(r *route)    { r.gzip = true }
func streaming(r *route)     { r.stream = true }
func quietLog(r *route)      { r.quiet = true }
func metricsBearer(r *route) { r.bearer = true }
func crossSitePost(r *route) { r.crossSite = true }

// duringEnrolment sets route.enrol.
func duringEnrolment(r *route) { r.enrol = true }

// duringEnrolmentWithout sets route.enrol, but not when the request has
// the query parameter param: the bare event stream serves the enrolment
// pages; a mission's stream would serve mission data.
func duringEnrolmentWithout(param string) routeOption {
	return func(r *route) { r.enrol, r.enrolClosedBy = true, param }
}

// The mission roles of a route.
func forRoles(roles ...string) routeOption { return func(r *route) { r.roles = roles } }

func anyMember(r *route) {
	forRoles(rule.RoleLead, rule.RoleRed, rule.RoleBlue, rule.RoleObserver)(r)
}
func leads(r *route)     { forRoles(rule.RoleLead)(r) }
func redSide(r *route)   { forRoles(rule.RoleLead, rule.RoleRed)(r) }
func blueSide(r *route)  { forRoles(rule.RoleLead, rule.RoleBlue)(r) }
func executors(r *route) { forRoles(rule.RoleLead, rule.RoleRed, rule.RoleBlue)(r) }

// routeIndex finds a route's entry by method and template. HEAD requests
// find their GET route's entry, as register installs both.
type routeIndex map[string]*route

func indexRoutes(routes []route) routeIndex {
	idx := make(routeIndex, 2*len(routes))
	for i := range routes {
		r := &routes[i]
		idx[r.method+" "+r.path] = r
		if r.method == http.MethodGet {
			idx[http.MethodHead+" "+r.path] = r
		}
	}
	return idx
}

// routeOf returns the entry of the route the request matched (c.Path() is
// its template), or the defaults (a zero route) when it matched none: a
// 404 or a 405.
func (s *Server) routeOf(c echo.Context) route {
	if r, ok := s.byRoute[c.Request().Method+" "+c.Path()]; ok {
		return *r
	}
	return route{}
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path, Access string
	// BodyLimit is the request body limit in bytes.
	BodyLimit int64
	// Session is false on routes that never load a session.
	Session bool
	// Gzip, Stream, Quiet and Bearer are the route settings of the same
	// names.
	Gzip, Stream, Quiet, Bearer bool
	// MissionRoles are the mission roles the route serves; nil for a
	// route that is not about one mission.
	MissionRoles []string
	// API marks a route of the JSON API: a bearer token, not a session.
	API bool
}

// Routes lists the route table: every URL Violet answers with the access
// and the settings it declares.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, r := range s.routes {
		out[i] = RouteInfo{
			Method: r.method, Path: r.path, Access: string(r.access),
			BodyLimit: r.bodyLimit(), Session: !r.noSession,
			Gzip: r.gzip, Stream: r.stream, Quiet: r.quiet, Bearer: r.bearer,
			MissionRoles: r.roles, API: r.api != nil,
		}
	}
	return out
}

// routeTable is THE route table: every URL Violet answers, in one place.
func (s *Server) routeTable() []route {
	return append([]route{
		get(paths.Home, signedIn, s.showHome),
		get(paths.Diag, signedIn, s.showDiag),
		get(paths.DiagDB, public, s.diagDB, sessionless),
		get(paths.Healthz, public, s.healthz, sessionless, quietLog),
		get(paths.Readyz, public, s.readyz, sessionless, quietLog),
		// Prometheus metrics: metrics.read, or METRICS_TOKEN as a bearer
		// token (metricsAccess, installed by register).
		get(paths.Metrics, need(auth.MetricsRead), s.showMetrics, metricsBearer),
		get(static.Prefix+"*", public, s.serveAsset, sessionless, compressed, quietLog),

		// Live updates: the event stream of every signed-in page.
		get(paths.Events, signedIn, s.streamEvents, streaming, duringEnrolmentWithout("mission")),

		// Signing in and out.
		get(paths.Login, public, s.showLogin),
		post(paths.Login, public, s.login),
		post(paths.Logout, signedIn, s.logout, duringEnrolment),
		get(paths.LoginLink, public, s.showLink),
		post(paths.LoginLink, public, s.link),
		get(paths.LoginSecondFactor, public, s.showSecondFactor),
		post(paths.LoginSecondFactor, public, s.secondFactor),
		// Single sign-on (OpenID Connect): public like the sign-in form;
		// GETs, as the provider sends the browser back with a redirect.
		get(paths.OIDCStart, public, s.startSSO),
		get(paths.OIDCCallback, public, s.ssoCallback),
		// Single sign-on (SAML): public like the sign-in form. The ACS is
		// posted to from the identity provider's page, another site, by
		// design: exempt from the cross-origin protection (crossSitePost).
		get(paths.SAMLMetadata, public, s.samlMetadata, sessionless),
		get(paths.SAMLStart, public, s.startSAML),
		post(paths.SAMLACS, public, s.samlACS, crossSitePost),
		// Passkeys: public like the sign-in form; the second step needs a
		// pending sign-in (its cookie), as /login/second-factor does.
		post(paths.LoginPasskey, public, s.beginPasskeyLogin),
		post(paths.LoginPasskeyFinish, public, s.finishPasskeyLogin),
		post(paths.LoginSecondFactorPasskey, public, s.beginPasskeySecondFactor),
		post(paths.LoginSecondFactorPasskeyFinish, public, s.finishPasskeySecondFactor),

		// Invitations: the admin pages and the acceptance page.
		get(paths.Invitations, need(auth.UserInvite), s.listInvitations),
		post(paths.Invitations, need(auth.UserInvite), s.createInvitation),
		post(paths.InvitationRevoke, need(auth.UserInvite), s.revokeInvitation),
		post(paths.UserResetInvitation, need(auth.UserManage), s.createResetInvitation),
		get(paths.Invitation, public, s.showInvitation),
		post(paths.Invitation, public, s.acceptInvitation),

		// My account.
		get(paths.Account, signedIn, s.showAccount),
		post(paths.AccountProfile, signedIn, s.updateProfile),
		post(paths.AccountPassword, signedIn, s.changePassword),
		post(paths.AccountLanguage, signedIn, s.updateLanguage),
		post(paths.AccountEndOtherSession, signedIn, s.endOthers),
		post(paths.AccountEndSession, signedIn, s.endSession),
		// Second factors (internal/factor): the enrolment pages stay open
		// to a session that must set one up first.
		get(paths.AccountSecurity, signedIn, s.showSecurity, duringEnrolment),
		post(paths.AccountTOTP, signedIn, s.startEnrolment, duringEnrolment),
		post(paths.AccountTOTPConfirm, signedIn, s.confirmEnrolment, duringEnrolment),
		post(paths.AccountTOTPRemove, signedIn, s.factorChange(accountview.PrefixRemove, (*account.Service).RemoveTOTP)),
		post(paths.AccountRecoveryCodes, signedIn, s.factorChange(accountview.PrefixRegenerate, (*account.Service).RegenerateRecovery)),
		// A passkey satisfies a group's policy too: adding one is open
		// during enrolment.
		post(paths.AccountPasskeys, signedIn, s.beginPasskeyAdd, duringEnrolment),
		post(paths.AccountPasskeysFinish, signedIn, s.finishPasskeyAdd, duringEnrolment),
		post(paths.AccountPasskeyRename, signedIn, s.renamePasskey),
		post(paths.AccountPasskeyRemove, signedIn, s.removePasskey),
		post(paths.AccountIdentityLink, signedIn, s.linkIdentity),
		post(paths.AccountIdentityUnlink, signedIn, s.unlinkIdentity),
		// API tokens (internal/apitoken): the viewer's own.
		post(paths.AccountAPITokens, signedIn, s.createAPIToken),
		post(paths.AccountAPITokenRevoke, signedIn, s.revokeAPIToken),

		// Notifications.
		get(paths.Notifications, signedIn, s.listNotifications),
		get(paths.NotificationsBell, signedIn, s.showBell),
		post(paths.NotificationsReadAll, signedIn, s.markAllNotificationsRead),
		post(paths.NotificationPreferences, signedIn, s.updateNotificationPrefs),
		post(paths.NotificationRead, signedIn, s.markNotificationRead),
		post(paths.NotificationOpen, signedIn, s.openNotification),

		// Administration of users and groups.
		get(paths.Users, need(auth.UserRead), s.listUsers),
		get(paths.User, need(auth.UserRead), s.showUser),
		post(paths.UserGroups, need(auth.UserManage), s.updateUserGroups),
		post(paths.UserDeactivate, need(auth.UserManage), s.deactivateUser),
		post(paths.UserReactivate, need(auth.UserManage), s.reactivateUser),
		post(paths.UserDelete, need(auth.UserManage), s.deleteUser),
		post(paths.UserRestore, need(auth.UserManage), s.restoreUser),
		post(paths.UserEndSessions, need(auth.UserManage), s.endUserSessions),
		post(paths.UserRemoveTOTP, need(auth.UserManage), s.removeUserTOTP),
		// Service accounts and their API tokens (internal/apitoken).
		get(paths.ServiceAccounts, need(auth.UserManage), s.listServiceAccounts),
		post(paths.ServiceAccounts, need(auth.UserManage), s.createServiceAccount),
		get(paths.ServiceAccount, need(auth.UserManage), s.showServiceAccount),
		post(paths.ServiceAccountTokens, need(auth.UserManage), s.createServiceAccountToken),
		post(paths.ServiceAccountTokenRevoke, need(auth.UserManage), s.revokeServiceAccountToken),
		get(paths.Groups, need(auth.GroupManage), s.listGroups),
		get(paths.GroupNew, need(auth.GroupManage), s.newGroup),
		post(paths.Groups, need(auth.GroupManage), s.createGroup),
		get(paths.Group, need(auth.GroupManage), s.showGroup),
		post(paths.Group, need(auth.GroupManage), s.updateGroup),
		post(paths.GroupDelete, need(auth.GroupManage), s.deleteGroup),
		post(paths.GroupPermissions, need(auth.GroupManage), s.updateGroupPermissions),
		post(paths.GroupPermissionToggle, need(auth.GroupManage), s.toggleGroupPermission),

		// The audit log.
		get(paths.Audit, need(auth.AuditRead), s.listAuditEvents),
		get(paths.Trash, need(auth.TrashManage), s.listTrash),

		// ATT&CK sync (administration).
		get(paths.AttackSync, need(auth.AttackSync), s.showAttackSync),
		post(paths.AttackSyncURL, need(auth.AttackSync), s.syncFromURL),
		post(paths.AttackSyncUpload, need(auth.AttackSync), s.syncUpload, bodyUpTo(uploadBodyLimit)),
		get(paths.AttackSyncJob, need(auth.AttackSync), s.showAttackSyncJob),

		// Trends across missions: every mission's results, hence a
		// permission of its own rather than mission.read.
		get(paths.Insights, need(auth.InsightsRead), s.showInsights),
		get(paths.InsightsCSV, need(auth.InsightsRead), s.exportInsightsCSV),
		get(paths.InsightsNavigator, need(auth.InsightsRead), s.exportInsightsLayer),

		// The ATT&CK catalogue.
		get(paths.Attack, need(auth.AttackRead), s.showAttackMatrix),
		get(paths.AttackSearch, need(auth.AttackRead), s.searchAttack),
		get(paths.AttackPicker, need(auth.AttackRead), s.searchAttackPicker),
		get(paths.AttackEntry, need(auth.AttackRead), s.showAttackEntry),

		// The test library: scenarios.
		get(paths.Scenarios, need(auth.TemplateRead), s.listScenarios),
		get(paths.ScenarioNew, need(auth.TemplateWrite), s.newScenario),
		post(paths.Scenarios, need(auth.TemplateWrite), s.createScenario),
		get(paths.Scenario, need(auth.TemplateRead), s.showScenario),
		post(paths.Scenario, need(auth.TemplateWrite), s.updateScenario),
		get(paths.ScenarioCandidates, need(auth.TemplateWrite), s.searchScenarioCandidates),
		post(paths.ScenarioTests, need(auth.TemplateWrite), s.addScenarioTest),
		post(paths.ScenarioTestMove, need(auth.TemplateWrite), s.moveScenarioTest),
		post(paths.ScenarioTestRemove, need(auth.TemplateWrite), s.removeScenarioTest),
		post(paths.ScenarioOrder, need(auth.TemplateWrite), s.reorderScenarioTests),
		post(paths.ScenarioDuplicate, need(auth.TemplateWrite), s.duplicateScenario),
		post(paths.ScenarioDelete, need(auth.TemplateWrite), s.deleteScenario),
		post(paths.ScenarioRestore, need(auth.TrashManage), s.restoreScenario),

		// The test library: test templates.
		get(paths.Library, need(auth.TemplateRead), s.showLibrary),
		get(paths.Templates, need(auth.TemplateRead), s.listTemplates),
		get(paths.TemplateNew, need(auth.TemplateWrite), s.newTemplate),
		post(paths.Templates, need(auth.TemplateWrite), s.createTemplate),
		post(paths.TemplatePreview, need(auth.TemplateWrite), s.previewTemplateText),
		post(paths.TemplatesBulkAdd, need(auth.TemplateWrite), s.addTemplatesToScenario),
		post(paths.TemplatesBulkDelete, need(auth.TemplateWrite), s.deleteTemplates),
		get(paths.Template, need(auth.TemplateRead), s.showTemplate),
		get(paths.TemplateEdit, need(auth.TemplateWrite), s.editTemplate),
		post(paths.Template, need(auth.TemplateWrite), s.updateTemplate),
		post(paths.TemplateDuplicate, need(auth.TemplateWrite), s.duplicateTemplate),
		post(paths.TemplateDelete, need(auth.TemplateWrite), s.deleteTemplate),
		post(paths.TemplateRestore, need(auth.TrashManage), s.restoreTemplate),

		// The test library: imports and exports.
		get(paths.LibraryImport, need(auth.TemplateWrite), s.showLibraryImport),
		post(paths.LibraryImportAtomic, need(auth.TemplateWrite), s.importAtomic, bodyUpTo(uploadBodyLimit)),
		post(paths.LibraryImportLibrary, need(auth.TemplateWrite), s.importLibraryDocument, bodyUpTo(uploadBodyLimit)),
		get(paths.LibraryImportJob, need(auth.TemplateWrite), s.showImportJob),
		// The VECTR history import makes missions too: its workflow also
		// checks mission.create (internal/vectr).
		get(paths.LibraryImportVectr, need(auth.TemplateWrite), s.showVectrImport),
		post(paths.LibraryImportVectr, need(auth.TemplateWrite), s.uploadVectr, bodyUpTo(uploadBodyLimit)),
		post(paths.LibraryImportVectrRun, need(auth.TemplateWrite), s.runVectr),
		get(paths.LibraryExport, need(auth.TemplateRead), s.exportLibrary),

		// Missions: list, form, status, members, categories.
		get(paths.Missions, need(auth.MissionRead), s.listMissions),
		get(paths.MissionNew, need(auth.MissionCreate), s.newMission),
		post(paths.Missions, need(auth.MissionCreate), s.createMission),
		// A whole-mission archive from another Violet (internal/missionarchive).
		get(paths.MissionImport, need(auth.MissionCreate), s.showMissionImport),
		post(paths.MissionImport, need(auth.MissionCreate), s.previewMissionImport, bodyUpTo(missionArchiveBodyLimit)),
		post(paths.MissionImportConfirm, need(auth.MissionCreate), s.confirmMissionImport),
		get(paths.MissionSettings, need(auth.MissionRead), s.showMissionSettings, leads),
		post(paths.MissionSettings, need(auth.MissionRead), s.updateMissionSettings, leads),
		post(paths.MissionStatus, need(auth.MissionRead), s.changeMissionStatus, leads),
		post(paths.MissionDelete, need(auth.MissionRead), s.deleteMission, leads),
		post(paths.MissionRestore, need(auth.TrashManage), s.restoreMission),
		get(paths.MissionMembers, need(auth.MissionRead), s.listMissionMembers, anyMember),
		get(paths.MissionMemberCandidates, need(auth.MissionRead), s.searchMemberCandidates, anyMember),
		post(paths.MissionMembers, need(auth.MissionRead), s.addMissionMember, leads),
		post(paths.MissionMemberRole, need(auth.MissionRead), s.changeMemberRole, leads),
		post(paths.MissionMemberRemove, need(auth.MissionRead), s.removeMissionMember, leads),
		get(paths.MissionCategories, need(auth.MissionRead), s.listMissionCategories, anyMember),
		post(paths.MissionCategories, need(auth.MissionRead), s.addMissionCategory, leads),
		post(paths.MissionCategory, need(auth.MissionRead), s.updateMissionCategory, leads),
		post(paths.MissionCategoryMove, need(auth.MissionRead), s.moveMissionCategory, leads),
		post(paths.MissionCategoryDelete, need(auth.MissionRead), s.deleteMissionCategory, leads),

		// The mission page and its plan.
		get(paths.Mission, need(auth.MissionRead), s.showMission, anyMember),
		get(paths.MissionFigures, need(auth.MissionRead), s.showMissionFigures, anyMember),
		get(paths.MissionTimeline, need(auth.MissionRead), s.showMissionTimeline, anyMember),
		get(paths.MissionGaps, need(auth.MissionRead), s.showMissionGaps, anyMember),
		// Retest (internal/retest): the form and the overview's links, and
		// the comparison with the original.
		get(paths.MissionRetest, need(auth.MissionRead), s.showRetestForm, leads),
		post(paths.MissionRetest, need(auth.MissionRead), s.createRetest, leads),
		get(paths.MissionRetestLinks, need(auth.MissionRead), s.showRetestLinks, anyMember),
		get(paths.MissionCompare, need(auth.MissionRead), s.showCompare, anyMember),
		get(paths.MissionExecutionLog, need(auth.MissionRead), s.showExecLog, redSide),
		post(paths.MissionExecutionLog, need(auth.MissionRead), s.previewExecLog, redSide, bodyUpTo(execLogBodyLimit)),
		post(paths.MissionExecutionLogApply, need(auth.MissionRead), s.applyExecLog, redSide, bodyUpTo(execLogBodyLimit)),
		get(paths.PlanScenarios, need(auth.MissionRead), s.searchPlanScenarios, leads),
		post(paths.PlanScenarios, need(auth.MissionRead), s.instantiateScenarios, leads),
		get(paths.PlanTests, need(auth.MissionRead), s.searchPlanTemplates, leads),
		post(paths.PlanTests, need(auth.MissionRead), s.addPlanTemplate, leads),
		post(paths.PlanTestNew, need(auth.MissionRead), s.addPlanTest, leads),
		post(paths.PlanTestMove, need(auth.MissionRead), s.movePlanTest, leads),
		post(paths.PlanTestCategory, need(auth.MissionRead), s.setPlanTestCategory, leads),
		post(paths.PlanTestRemove, need(auth.MissionRead), s.removePlanTest, leads),

		// One mission test: red, blue, review.
		get(paths.MissionTest, need(auth.MissionRead), s.showMissionTest, anyMember),
		post(paths.MissionTestStart, need(auth.MissionRead), s.startMissionTest, redSide),
		post(paths.MissionTestStop, need(auth.MissionRead), s.stopMissionTest, redSide),
		post(paths.MissionTestRed, need(auth.MissionRead), s.saveMissionTestRed, redSide),
		get(paths.MissionTestExpected, need(auth.MissionRead), s.showExpectedRules, leads),
		post(paths.MissionTestExpected, need(auth.MissionRead), s.saveExpectedRules, leads),
		post(paths.MissionTestRelease, need(auth.MissionRead), s.releaseMissionTest, redSide),
		post(paths.MissionTestSetAside, need(auth.MissionRead), s.setAsideMissionTest, redSide),
		post(paths.MissionTestBlue, need(auth.MissionRead), s.saveMissionTestBlue, blueSide),
		post(paths.MissionTestReview, need(auth.MissionRead), s.reviewMissionTest, leads),
		post(paths.MissionTestReopen, need(auth.MissionRead), s.reopenMissionTest, leads),
		post(paths.MissionTestsBulk, need(auth.MissionRead), s.bulkMissionTests, leads),

		// Evidence.
		get(paths.Evidence, need(auth.MissionRead), s.showEvidence, anyMember),
		post(paths.Evidence, need(auth.EvidenceUpload), s.uploadEvidence, bodyUpTo(evidenceBodyCeiling), executors),
		get(paths.EvidenceFile, need(auth.MissionRead), s.downloadEvidence, anyMember),
		get(paths.EvidencePreview, need(auth.MissionRead), s.showEvidencePreview, anyMember),
		post(paths.EvidenceDelete, need(auth.MissionRead), s.deleteEvidence, executors),

		// Report and exports.
		get(paths.MissionReport, need(auth.MissionRead), s.showMissionReport, anyMember),
		get(paths.MissionReportCSS, need(auth.MissionRead), s.showMissionReportCSS, anyMember),
		get(paths.MissionExportNavigator, need(auth.MissionRead), s.exportNavigator, anyMember),
		get(paths.MissionExportTestsCSV, need(auth.MissionRead), s.exportTestsCSV, anyMember),
		get(paths.MissionExportMissionJSON, need(auth.MissionRead), s.exportMissionJSON, anyMember),
		get(paths.MissionExportArchive, need(auth.MissionRead), s.exportMissionArchive, anyMember),
		get(paths.PlanNavigator, need(auth.MissionRead), s.showNavigatorImport, leads),
		post(paths.PlanNavigator, need(auth.MissionRead), s.previewNavigatorImport, leads),
		post(paths.PlanNavigatorConfirm, need(auth.MissionRead), s.confirmNavigatorImport, leads),

		// Administration: detection scale and settings.
		get(paths.DetectionLevels, need(auth.SettingsManage), s.listDetectionLevels),
		post(paths.DetectionLevels, need(auth.SettingsManage), s.createDetectionLevel),
		get(paths.DetectionLevel, need(auth.SettingsManage), s.editDetectionLevel),
		post(paths.DetectionLevel, need(auth.SettingsManage), s.updateDetectionLevel),
		post(paths.DetectionLevelMove, need(auth.SettingsManage), s.moveDetectionLevel),
		post(paths.DetectionLevelRetire, need(auth.SettingsManage), s.retireDetectionLevel),
		post(paths.DetectionLevelUnretire, need(auth.SettingsManage), s.unretireDetectionLevel),
		post(paths.DetectionLevelDelete, need(auth.SettingsManage), s.deleteDetectionLevel),
		get(paths.Tools, need(auth.SettingsManage), s.listTools),
		post(paths.Tools, need(auth.SettingsManage), s.saveTool),
		get(paths.Tool, need(auth.SettingsManage), s.editTool),
		post(paths.Tool, need(auth.SettingsManage), s.saveTool),
		post(paths.ToolDeactivate, need(auth.SettingsManage), s.toolAction("tools.deactivated", (*tools.Service).Deactivate)),
		post(paths.ToolReactivate, need(auth.SettingsManage), s.toolAction("tools.reactivated", (*tools.Service).Reactivate)),
		post(paths.ToolDelete, need(auth.SettingsManage), s.toolAction("tools.deleted", (*tools.Service).Delete)),
		post(paths.ToolRestore, need(auth.TrashManage), s.toolAction("tools.restored", (*tools.Service).Restore)),
		get(paths.ScaleCSS, public, s.showScaleCSS),
		get(paths.APIDocument, public, s.showAPIDocument, sessionless),
		get(paths.APIDocs, public, s.showAPIDocs),
		get(paths.Settings, need(auth.SettingsManage), s.showSettings),
		post(paths.Settings, need(auth.SettingsManage), s.updateSettings),
		get(paths.AdminSignIn, need(auth.SettingsManage), s.showSignInAdmin),
		get(paths.AdminSignInNew, need(auth.SettingsManage), s.newSignInProvider),
		post(paths.AdminSignInNew, need(auth.SettingsManage), s.saveSignInProvider),
		post(paths.AdminSignInPolicy, need(auth.SettingsManage), s.setSignInPolicy),
		get(paths.AdminSignInProvider, need(auth.SettingsManage), s.editSignInProvider),
		post(paths.AdminSignInProvider, need(auth.SettingsManage), s.saveSignInProvider),
		post(paths.AdminSignInEnable, need(auth.SettingsManage), s.enableSignInProvider),
		post(paths.AdminSignInDisable, need(auth.SettingsManage), s.disableSignInProvider),
		post(paths.AdminSignInDelete, need(auth.SettingsManage), s.deleteSignInProvider),
		post(paths.AdminBreakGlass, need(auth.SettingsManage), s.setBreakGlass),
	}, s.apiRoutes()...)
}

// register installs the middleware and the route table on echo.
func (s *Server) register() {
	e := s.echo
	e.Use(
		s.idleBody, // first: a body no middleware reads is bounded too
		s.requestID,
		s.observeRequests(),
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{LogErrorFunc: s.logPanic, DisableStackAll: true}),
		s.securityHeaders,
		s.deadline,
		s.locale,
		s.crossOriginProtection(),
		s.bodyLimit,
		s.authenticate,
	)
	gzip := middleware.Gzip()
	for _, r := range s.routes {
		mw := []echo.MiddlewareFunc{s.requireAccess(r.access), s.checkText}
		switch {
		case r.bearer:
			mw[0] = s.metricsAccess(r.access)
		case r.api != nil:
			mw[0] = s.requireToken(r.api)
		}
		if len(r.roles) > 0 {
			mw = append(mw, s.requireMissionRole(r.roles))
		}
		if r.gzip {
			mw = append(mw, gzip)
		}
		e.Add(r.method, r.path, r.handler, mw...)
		if r.method == http.MethodGet {
			// Probes and link checkers send HEAD; the server drops the body.
			e.Add(http.MethodHead, r.path, r.handler, mw...)
		}
	}
}
