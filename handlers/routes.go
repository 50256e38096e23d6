package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"violet/internal/auth"
	"violet/static"
	"violet/views/scale"
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
		}
	}
	return out
}

// routeTable is THE route table: every URL Violet answers, in one place.
func (s *Server) routeTable() []route {
	return []route{
		get("/", signedIn, s.showHome),
		get("/diag", signedIn, s.showDiag),
		get("/api/v1/diag/db", public, s.diagDB, sessionless),
		get("/healthz", public, s.healthz, sessionless, quietLog),
		get("/readyz", public, s.readyz, sessionless, quietLog),
		// Prometheus metrics: metrics.read, or METRICS_TOKEN as a bearer
		// token (metricsAccess, installed by register).
		get(metricsPath, need(auth.MetricsRead), s.showMetrics, metricsBearer),
		get(static.Prefix+"*", public, s.serveAsset, sessionless, compressed, quietLog),

		// Live updates: the event stream of every signed-in page.
		get(eventsPath, signedIn, s.streamEvents, streaming),

		// Signing in and out.
		get("/login", public, s.showLogin),
		post("/login", public, s.login),
		post("/logout", signedIn, s.logout),

		// Invitations: the admin pages and the acceptance page.
		get("/admin/invitations", need(auth.UserInvite), s.listInvitations),
		post("/admin/invitations", need(auth.UserInvite), s.createInvitation),
		post("/admin/invitations/:id/revoke", need(auth.UserInvite), s.revokeInvitation),
		post("/admin/users/:id/reset-invitation", need(auth.UserManage), s.createResetInvitation),
		get("/invitations/:token", public, s.showInvitation),
		post("/invitations/:token", public, s.acceptInvitation),

		// My account.
		get("/account", signedIn, s.showAccount),
		post("/account/profile", signedIn, s.updateProfile),
		post("/account/password", signedIn, s.changePassword),
		post("/account/language", signedIn, s.updateLanguage),
		post("/account/sessions/end-others", signedIn, s.endOthers),
		post("/account/sessions/:id/end", signedIn, s.endSession),

		// Notifications.
		get("/notifications", signedIn, s.listNotifications),
		get("/notifications/bell", signedIn, s.showBell),
		post("/notifications/read-all", signedIn, s.markAllNotificationsRead),
		post("/notifications/preferences", signedIn, s.updateNotificationPrefs),
		post("/notifications/:id/read", signedIn, s.markNotificationRead),
		post("/notifications/:id/open", signedIn, s.openNotification),

		// Administration of users and groups.
		get("/admin/users", need(auth.UserRead), s.listUsers),
		get("/admin/users/:id", need(auth.UserRead), s.showUser),
		post("/admin/users/:id/groups", need(auth.UserManage), s.updateUserGroups),
		post("/admin/users/:id/deactivate", need(auth.UserManage), s.deactivateUser),
		post("/admin/users/:id/reactivate", need(auth.UserManage), s.reactivateUser),
		post("/admin/users/:id/delete", need(auth.UserManage), s.deleteUser),
		post("/admin/users/:id/restore", need(auth.UserManage), s.restoreUser),
		post("/admin/users/:id/end-sessions", need(auth.UserManage), s.endUserSessions),
		get("/admin/groups", need(auth.GroupManage), s.listGroups),
		get("/admin/groups/new", need(auth.GroupManage), s.newGroup),
		post("/admin/groups", need(auth.GroupManage), s.createGroup),
		get("/admin/groups/:id", need(auth.GroupManage), s.showGroup),
		post("/admin/groups/:id", need(auth.GroupManage), s.updateGroup),
		post("/admin/groups/:id/delete", need(auth.GroupManage), s.deleteGroup),
		post("/admin/groups/:id/permissions", need(auth.GroupManage), s.updateGroupPermissions),
		post("/admin/groups/:id/permissions/:code", need(auth.GroupManage), s.toggleGroupPermission),

		// The audit log.
		get("/admin/audit", need(auth.AuditRead), s.listAuditEvents),
		get("/admin/trash", need(auth.TrashManage), s.listTrash),

		// ATT&CK sync (administration).
		get("/admin/attack-sync", need(auth.AttackSync), s.showAttackSync),
		post("/admin/attack-sync/url", need(auth.AttackSync), s.syncFromURL),
		post("/admin/attack-sync/upload", need(auth.AttackSync), s.syncUpload, bodyUpTo(uploadBodyLimit)),
		get("/admin/attack-sync/:id", need(auth.AttackSync), s.showAttackSyncJob),

		// The ATT&CK catalogue.
		get("/attack", need(auth.AttackRead), s.showAttackMatrix),
		get("/attack/search", need(auth.AttackRead), s.searchAttack),
		get("/attack/picker", need(auth.AttackRead), s.searchAttackPicker),
		get("/attack/:external_id", need(auth.AttackRead), s.showAttackEntry),

		// The test library: scenarios.
		get("/library/scenarios", need(auth.TemplateRead), s.listScenarios),
		get("/library/scenarios/new", need(auth.TemplateWrite), s.newScenario),
		post("/library/scenarios", need(auth.TemplateWrite), s.createScenario),
		get("/library/scenarios/:id", need(auth.TemplateRead), s.showScenario),
		post("/library/scenarios/:id", need(auth.TemplateWrite), s.updateScenario),
		get("/library/scenarios/:id/candidates", need(auth.TemplateWrite), s.searchScenarioCandidates),
		post("/library/scenarios/:id/tests", need(auth.TemplateWrite), s.addScenarioTest),
		post("/library/scenarios/:id/tests/move", need(auth.TemplateWrite), s.moveScenarioTest),
		post("/library/scenarios/:id/tests/remove", need(auth.TemplateWrite), s.removeScenarioTest),
		post("/library/scenarios/:id/order", need(auth.TemplateWrite), s.reorderScenarioTests),
		post("/library/scenarios/:id/duplicate", need(auth.TemplateWrite), s.duplicateScenario),
		post("/library/scenarios/:id/delete", need(auth.TemplateWrite), s.deleteScenario),
		post("/library/scenarios/:id/restore", need(auth.TrashManage), s.restoreScenario),

		// The test library: test templates.
		get("/library", need(auth.TemplateRead), s.showLibrary),
		get("/library/tests", need(auth.TemplateRead), s.listTemplates),
		get("/library/tests/new", need(auth.TemplateWrite), s.newTemplate),
		post("/library/tests", need(auth.TemplateWrite), s.createTemplate),
		post("/library/tests/preview", need(auth.TemplateWrite), s.previewTemplateText),
		post("/library/tests/bulk/add", need(auth.TemplateWrite), s.addTemplatesToScenario),
		post("/library/tests/bulk/delete", need(auth.TemplateWrite), s.deleteTemplates),
		get("/library/tests/:id", need(auth.TemplateRead), s.showTemplate),
		get("/library/tests/:id/edit", need(auth.TemplateWrite), s.editTemplate),
		post("/library/tests/:id", need(auth.TemplateWrite), s.updateTemplate),
		post("/library/tests/:id/duplicate", need(auth.TemplateWrite), s.duplicateTemplate),
		post("/library/tests/:id/delete", need(auth.TemplateWrite), s.deleteTemplate),
		post("/library/tests/:id/restore", need(auth.TrashManage), s.restoreTemplate),

		// The test library: imports and exports.
		get("/library/import", need(auth.TemplateWrite), s.showLibraryImport),
		post("/library/import/atomic", need(auth.TemplateWrite), s.importAtomic, bodyUpTo(uploadBodyLimit)),
		post("/library/import/library", need(auth.TemplateWrite), s.importLibraryDocument, bodyUpTo(uploadBodyLimit)),
		get("/library/import/:id", need(auth.TemplateWrite), s.showImportJob),
		get("/library/export", need(auth.TemplateRead), s.exportLibrary),

		// Missions: list, form, status, members, categories.
		get("/missions", need(auth.MissionRead), s.listMissions),
		get("/missions/new", need(auth.MissionCreate), s.newMission),
		post("/missions", need(auth.MissionCreate), s.createMission),
		get("/missions/:id/settings", need(auth.MissionRead), s.showMissionSettings),
		post("/missions/:id/settings", need(auth.MissionRead), s.updateMissionSettings),
		post("/missions/:id/status", need(auth.MissionRead), s.changeMissionStatus),
		post("/missions/:id/delete", need(auth.MissionRead), s.deleteMission),
		post("/missions/:id/restore", need(auth.TrashManage), s.restoreMission),
		get("/missions/:id/members", need(auth.MissionRead), s.listMissionMembers),
		get("/missions/:id/members/candidates", need(auth.MissionRead), s.searchMemberCandidates),
		post("/missions/:id/members", need(auth.MissionRead), s.addMissionMember),
		post("/missions/:id/members/:user/role", need(auth.MissionRead), s.changeMemberRole),
		post("/missions/:id/members/:user/remove", need(auth.MissionRead), s.removeMissionMember),
		get("/missions/:id/categories", need(auth.MissionRead), s.listMissionCategories),
		post("/missions/:id/categories", need(auth.MissionRead), s.addMissionCategory),
		post("/missions/:id/categories/:cat", need(auth.MissionRead), s.updateMissionCategory),
		post("/missions/:id/categories/:cat/move", need(auth.MissionRead), s.moveMissionCategory),
		post("/missions/:id/categories/:cat/delete", need(auth.MissionRead), s.deleteMissionCategory),

		// The mission page and its plan.
		get("/missions/:id", need(auth.MissionRead), s.showMission),
		get("/missions/:id/figures", need(auth.MissionRead), s.showMissionFigures),
		get("/missions/:id/plan/scenarios", need(auth.MissionRead), s.searchPlanScenarios),
		post("/missions/:id/plan/scenarios", need(auth.MissionRead), s.instantiateScenarios),
		get("/missions/:id/plan/tests", need(auth.MissionRead), s.searchPlanTemplates),
		post("/missions/:id/plan/tests", need(auth.MissionRead), s.addPlanTemplate),
		post("/missions/:id/plan/tests/new", need(auth.MissionRead), s.addPlanTest),
		post("/missions/:id/plan/tests/:test/move", need(auth.MissionRead), s.movePlanTest),
		post("/missions/:id/plan/tests/:test/category", need(auth.MissionRead), s.setPlanTestCategory),
		post("/missions/:id/plan/tests/:test/remove", need(auth.MissionRead), s.removePlanTest),

		// One mission test: red, blue, review.
		get("/missions/:id/tests/:test", need(auth.MissionRead), s.showMissionTest),
		post("/missions/:id/tests/:test/start", need(auth.MissionRead), s.startMissionTest),
		post("/missions/:id/tests/:test/stop", need(auth.MissionRead), s.stopMissionTest),
		post("/missions/:id/tests/:test/red", need(auth.MissionRead), s.saveMissionTestRed),
		post("/missions/:id/tests/:test/release", need(auth.MissionRead), s.releaseMissionTest),
		post("/missions/:id/tests/:test/set-aside", need(auth.MissionRead), s.setAsideMissionTest),
		post("/missions/:id/tests/:test/blue", need(auth.MissionRead), s.saveMissionTestBlue),
		post("/missions/:id/tests/:test/review", need(auth.MissionRead), s.reviewMissionTest),
		post("/missions/:id/tests/:test/reopen", need(auth.MissionRead), s.reopenMissionTest),

		// Evidence.
		get("/missions/:id/tests/:test/evidence", need(auth.MissionRead), s.showEvidence),
		post(evidenceUploadPath, need(auth.EvidenceUpload), s.uploadEvidence, bodyUpTo(evidenceBodyCeiling)),
		get("/missions/:id/tests/:test/evidence/:ev", need(auth.MissionRead), s.downloadEvidence),
		get("/missions/:id/tests/:test/evidence/:ev/preview", need(auth.MissionRead), s.showEvidencePreview),
		post("/missions/:id/tests/:test/evidence/:ev/delete", need(auth.MissionRead), s.deleteEvidence),

		// Report and exports.
		get("/missions/:id/report", need(auth.MissionRead), s.showMissionReport),
		get("/missions/:id/report/page.css", need(auth.MissionRead), s.showMissionReportCSS),
		get("/missions/:id/export/navigator.json", need(auth.MissionRead), s.exportNavigator),
		get("/missions/:id/export/tests.csv", need(auth.MissionRead), s.exportTestsCSV),
		get("/missions/:id/export/mission.json", need(auth.MissionRead), s.exportMissionJSON),
		get("/missions/:id/plan/navigator", need(auth.MissionRead), s.showNavigatorImport),
		post("/missions/:id/plan/navigator", need(auth.MissionRead), s.previewNavigatorImport),
		post("/missions/:id/plan/navigator/confirm", need(auth.MissionRead), s.confirmNavigatorImport),

		// Administration: detection scale and settings.
		get("/admin/detection-levels", need(auth.SettingsManage), s.listDetectionLevels),
		post("/admin/detection-levels", need(auth.SettingsManage), s.createDetectionLevel),
		get("/admin/detection-levels/:id", need(auth.SettingsManage), s.editDetectionLevel),
		post("/admin/detection-levels/:id", need(auth.SettingsManage), s.updateDetectionLevel),
		post("/admin/detection-levels/:id/move", need(auth.SettingsManage), s.moveDetectionLevel),
		post("/admin/detection-levels/:id/retire", need(auth.SettingsManage), s.retireDetectionLevel),
		post("/admin/detection-levels/:id/unretire", need(auth.SettingsManage), s.unretireDetectionLevel),
		post("/admin/detection-levels/:id/delete", need(auth.SettingsManage), s.deleteDetectionLevel),
		get(scale.Path, public, s.showScaleCSS),
		get("/admin/settings", need(auth.SettingsManage), s.showSettings),
		post("/admin/settings", need(auth.SettingsManage), s.updateSettings),
	}
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
		if r.bearer {
			mw[0] = s.metricsAccess(r.access)
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
