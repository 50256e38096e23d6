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
// does not (QUALITY.md §1, deny by default).
type access string

// public marks a route anyone may call; signedIn one any signed-in user
// may call.
const (
	public   access = "public"
	signedIn access = "signed-in"
)

// need declares that a route requires a permission.
func need(p auth.Permission) access { return access(p) }

// route is one entry of the route table.
type route struct {
	method  string
	path    string
	access  access
	handler echo.HandlerFunc
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Path, Access string
}

// Routes lists the route table: every URL Violet answers with the access
// it declares.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, r := range s.routes {
		out[i] = RouteInfo{r.method, r.path, string(r.access)}
	}
	return out
}

// routeTable is THE route table: every URL Violet answers, in one place.
func (s *Server) routeTable() []route {
	return []route{
		{http.MethodGet, "/", signedIn, s.showHome},
		{http.MethodGet, "/diag", signedIn, s.showDiag},
		{http.MethodGet, "/api/v1/diag/db", public, s.diagDB},
		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodGet, "/readyz", public, s.readyz},
		// Prometheus metrics: metrics.read, or METRICS_TOKEN as a bearer
		// token (metricsAccess, installed by register).
		{http.MethodGet, metricsPath, need(auth.MetricsRead), s.showMetrics},
		{http.MethodGet, static.Prefix + "*", public, s.serveAsset},

		// Live updates: the event stream of every signed-in page.
		{http.MethodGet, eventsPath, signedIn, s.streamEvents},

		// Signing in and out.
		{http.MethodGet, "/login", public, s.showLogin},
		{http.MethodPost, "/login", public, s.login},
		{http.MethodPost, "/logout", signedIn, s.logout},

		// Invitations: the admin pages and the acceptance page.
		{http.MethodGet, "/admin/invitations", need(auth.UserInvite), s.listInvitations},
		{http.MethodPost, "/admin/invitations", need(auth.UserInvite), s.createInvitation},
		{http.MethodPost, "/admin/invitations/:id/revoke", need(auth.UserInvite), s.revokeInvitation},
		{http.MethodPost, "/admin/users/:id/reset-invitation", need(auth.UserManage), s.createResetInvitation},
		{http.MethodGet, "/invitations/:token", public, s.showInvitation},
		{http.MethodPost, "/invitations/:token", public, s.acceptInvitation},

		// My account.
		{http.MethodGet, "/account", signedIn, s.showAccount},
		{http.MethodPost, "/account/profile", signedIn, s.updateProfile},
		{http.MethodPost, "/account/password", signedIn, s.changePassword},
		{http.MethodPost, "/account/language", signedIn, s.updateLanguage},
		{http.MethodPost, "/account/sessions/end-others", signedIn, s.endOthers},
		{http.MethodPost, "/account/sessions/:id/end", signedIn, s.endSession},

		// Notifications.
		{http.MethodGet, "/notifications", signedIn, s.listNotifications},
		{http.MethodGet, "/notifications/bell", signedIn, s.showBell},
		{http.MethodPost, "/notifications/read-all", signedIn, s.markAllNotificationsRead},
		{http.MethodPost, "/notifications/preferences", signedIn, s.updateNotificationPrefs},
		{http.MethodPost, "/notifications/:id/read", signedIn, s.markNotificationRead},
		{http.MethodPost, "/notifications/:id/open", signedIn, s.openNotification},

		// Administration of users and groups.
		{http.MethodGet, "/admin/users", need(auth.UserRead), s.listUsers},
		{http.MethodGet, "/admin/users/:id", need(auth.UserRead), s.showUser},
		{http.MethodPost, "/admin/users/:id/groups", need(auth.UserManage), s.updateUserGroups},
		{http.MethodPost, "/admin/users/:id/deactivate", need(auth.UserManage), s.deactivateUser},
		{http.MethodPost, "/admin/users/:id/reactivate", need(auth.UserManage), s.reactivateUser},
		{http.MethodPost, "/admin/users/:id/delete", need(auth.UserManage), s.deleteUser},
		{http.MethodPost, "/admin/users/:id/restore", need(auth.UserManage), s.restoreUser},
		{http.MethodPost, "/admin/users/:id/end-sessions", need(auth.UserManage), s.endUserSessions},
		{http.MethodGet, "/admin/groups", need(auth.GroupManage), s.listGroups},
		{http.MethodGet, "/admin/groups/new", need(auth.GroupManage), s.newGroup},
		{http.MethodPost, "/admin/groups", need(auth.GroupManage), s.createGroup},
		{http.MethodGet, "/admin/groups/:id", need(auth.GroupManage), s.showGroup},
		{http.MethodPost, "/admin/groups/:id", need(auth.GroupManage), s.updateGroup},
		{http.MethodPost, "/admin/groups/:id/delete", need(auth.GroupManage), s.deleteGroup},
		{http.MethodPost, "/admin/groups/:id/permissions", need(auth.GroupManage), s.updateGroupPermissions},
		{http.MethodPost, "/admin/groups/:id/permissions/:code", need(auth.GroupManage), s.toggleGroupPermission},

		// The audit log.
		{http.MethodGet, "/admin/audit", need(auth.AuditRead), s.listAuditEvents},
		{http.MethodGet, "/admin/trash", need(auth.TrashManage), s.listTrash},

		// ATT&CK sync (administration).
		{http.MethodGet, "/admin/attack-sync", need(auth.AttackSync), s.showAttackSync},
		{http.MethodPost, "/admin/attack-sync/url", need(auth.AttackSync), s.syncFromURL},
		{http.MethodPost, "/admin/attack-sync/upload", need(auth.AttackSync), s.syncUpload},
		{http.MethodGet, "/admin/attack-sync/:id", need(auth.AttackSync), s.showAttackSyncJob},

		// The ATT&CK catalogue.
		{http.MethodGet, "/attack", need(auth.AttackRead), s.showAttackMatrix},
		{http.MethodGet, "/attack/search", need(auth.AttackRead), s.searchAttack},
		{http.MethodGet, "/attack/picker", need(auth.AttackRead), s.searchAttackPicker},
		{http.MethodGet, "/attack/:external_id", need(auth.AttackRead), s.showAttackEntry},

		// The test library: scenarios.
		{http.MethodGet, "/library/scenarios", need(auth.TemplateRead), s.listScenarios},
		{http.MethodGet, "/library/scenarios/new", need(auth.TemplateWrite), s.newScenario},
		{http.MethodPost, "/library/scenarios", need(auth.TemplateWrite), s.createScenario},
		{http.MethodGet, "/library/scenarios/:id", need(auth.TemplateRead), s.showScenario},
		{http.MethodPost, "/library/scenarios/:id", need(auth.TemplateWrite), s.updateScenario},
		{http.MethodGet, "/library/scenarios/:id/candidates", need(auth.TemplateWrite), s.searchScenarioCandidates},
		{http.MethodPost, "/library/scenarios/:id/tests", need(auth.TemplateWrite), s.addScenarioTest},
		{http.MethodPost, "/library/scenarios/:id/tests/move", need(auth.TemplateWrite), s.moveScenarioTest},
		{http.MethodPost, "/library/scenarios/:id/tests/remove", need(auth.TemplateWrite), s.removeScenarioTest},
		{http.MethodPost, "/library/scenarios/:id/order", need(auth.TemplateWrite), s.reorderScenarioTests},
		{http.MethodPost, "/library/scenarios/:id/duplicate", need(auth.TemplateWrite), s.duplicateScenario},
		{http.MethodPost, "/library/scenarios/:id/delete", need(auth.TemplateWrite), s.deleteScenario},
		{http.MethodPost, "/library/scenarios/:id/restore", need(auth.TrashManage), s.restoreScenario},

		// The test library: test templates.
		{http.MethodGet, "/library", need(auth.TemplateRead), s.showLibrary},
		{http.MethodGet, "/library/tests", need(auth.TemplateRead), s.listTemplates},
		{http.MethodGet, "/library/tests/new", need(auth.TemplateWrite), s.newTemplate},
		{http.MethodPost, "/library/tests", need(auth.TemplateWrite), s.createTemplate},
		{http.MethodPost, "/library/tests/preview", need(auth.TemplateWrite), s.previewTemplateText},
		{http.MethodPost, "/library/tests/bulk/add", need(auth.TemplateWrite), s.addTemplatesToScenario},
		{http.MethodPost, "/library/tests/bulk/delete", need(auth.TemplateWrite), s.deleteTemplates},
		{http.MethodGet, "/library/tests/:id", need(auth.TemplateRead), s.showTemplate},
		{http.MethodGet, "/library/tests/:id/edit", need(auth.TemplateWrite), s.editTemplate},
		{http.MethodPost, "/library/tests/:id", need(auth.TemplateWrite), s.updateTemplate},
		{http.MethodPost, "/library/tests/:id/duplicate", need(auth.TemplateWrite), s.duplicateTemplate},
		{http.MethodPost, "/library/tests/:id/delete", need(auth.TemplateWrite), s.deleteTemplate},
		{http.MethodPost, "/library/tests/:id/restore", need(auth.TrashManage), s.restoreTemplate},

		// The test library: imports and exports.
		{http.MethodGet, "/library/import", need(auth.TemplateWrite), s.showLibraryImport},
		{http.MethodPost, "/library/import/atomic", need(auth.TemplateWrite), s.importAtomic},
		{http.MethodPost, "/library/import/library", need(auth.TemplateWrite), s.importLibraryDocument},
		{http.MethodGet, "/library/import/:id", need(auth.TemplateWrite), s.showImportJob},
		{http.MethodGet, "/library/export", need(auth.TemplateRead), s.exportLibrary},

		// Missions: list, form, status, members, categories.
		{http.MethodGet, "/missions", need(auth.MissionRead), s.listMissions},
		{http.MethodGet, "/missions/new", need(auth.MissionCreate), s.newMission},
		{http.MethodPost, "/missions", need(auth.MissionCreate), s.createMission},
		{http.MethodGet, "/missions/:id/settings", need(auth.MissionRead), s.showMissionSettings},
		{http.MethodPost, "/missions/:id/settings", need(auth.MissionRead), s.updateMissionSettings},
		{http.MethodPost, "/missions/:id/status", need(auth.MissionRead), s.changeMissionStatus},
		{http.MethodPost, "/missions/:id/delete", need(auth.MissionRead), s.deleteMission},
		{http.MethodPost, "/missions/:id/restore", need(auth.TrashManage), s.restoreMission},
		{http.MethodGet, "/missions/:id/members", need(auth.MissionRead), s.listMissionMembers},
		{http.MethodGet, "/missions/:id/members/candidates", need(auth.MissionRead), s.searchMemberCandidates},
		{http.MethodPost, "/missions/:id/members", need(auth.MissionRead), s.addMissionMember},
		{http.MethodPost, "/missions/:id/members/:user/role", need(auth.MissionRead), s.changeMemberRole},
		{http.MethodPost, "/missions/:id/members/:user/remove", need(auth.MissionRead), s.removeMissionMember},
		{http.MethodGet, "/missions/:id/categories", need(auth.MissionRead), s.listMissionCategories},
		{http.MethodPost, "/missions/:id/categories", need(auth.MissionRead), s.addMissionCategory},
		{http.MethodPost, "/missions/:id/categories/:cat", need(auth.MissionRead), s.updateMissionCategory},
		{http.MethodPost, "/missions/:id/categories/:cat/move", need(auth.MissionRead), s.moveMissionCategory},
		{http.MethodPost, "/missions/:id/categories/:cat/delete", need(auth.MissionRead), s.deleteMissionCategory},

		// The mission page and its plan.
		{http.MethodGet, "/missions/:id", need(auth.MissionRead), s.showMission},
		{http.MethodGet, "/missions/:id/figures", need(auth.MissionRead), s.showMissionFigures},
		{http.MethodGet, "/missions/:id/plan/scenarios", need(auth.MissionRead), s.searchPlanScenarios},
		{http.MethodPost, "/missions/:id/plan/scenarios", need(auth.MissionRead), s.instantiateScenarios},
		{http.MethodGet, "/missions/:id/plan/tests", need(auth.MissionRead), s.searchPlanTemplates},
		{http.MethodPost, "/missions/:id/plan/tests", need(auth.MissionRead), s.addPlanTemplate},
		{http.MethodPost, "/missions/:id/plan/tests/new", need(auth.MissionRead), s.addPlanTest},
		{http.MethodPost, "/missions/:id/plan/tests/:test/move", need(auth.MissionRead), s.movePlanTest},
		{http.MethodPost, "/missions/:id/plan/tests/:test/category", need(auth.MissionRead), s.setPlanTestCategory},
		{http.MethodPost, "/missions/:id/plan/tests/:test/remove", need(auth.MissionRead), s.removePlanTest},

		// One mission test: red, blue, review.
		{http.MethodGet, "/missions/:id/tests/:test", need(auth.MissionRead), s.showMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/start", need(auth.MissionRead), s.startMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/stop", need(auth.MissionRead), s.stopMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/red", need(auth.MissionRead), s.saveMissionTestRed},
		{http.MethodPost, "/missions/:id/tests/:test/release", need(auth.MissionRead), s.releaseMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/set-aside", need(auth.MissionRead), s.setAsideMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/blue", need(auth.MissionRead), s.saveMissionTestBlue},
		{http.MethodPost, "/missions/:id/tests/:test/review", need(auth.MissionRead), s.reviewMissionTest},
		{http.MethodPost, "/missions/:id/tests/:test/reopen", need(auth.MissionRead), s.reopenMissionTest},

		// Evidence.
		{http.MethodGet, "/missions/:id/tests/:test/evidence", need(auth.MissionRead), s.showEvidence},
		{http.MethodPost, evidenceUploadPath, need(auth.EvidenceUpload), s.uploadEvidence},
		{http.MethodGet, "/missions/:id/tests/:test/evidence/:ev", need(auth.MissionRead), s.downloadEvidence},
		{http.MethodGet, "/missions/:id/tests/:test/evidence/:ev/preview", need(auth.MissionRead), s.showEvidencePreview},
		{http.MethodPost, "/missions/:id/tests/:test/evidence/:ev/delete", need(auth.MissionRead), s.deleteEvidence},

		// Report and exports.
		{http.MethodGet, "/missions/:id/report", need(auth.MissionRead), s.showMissionReport},
		{http.MethodGet, "/missions/:id/report/page.css", need(auth.MissionRead), s.showMissionReportCSS},
		{http.MethodGet, "/missions/:id/export/navigator.json", need(auth.MissionRead), s.exportNavigator},
		{http.MethodGet, "/missions/:id/export/tests.csv", need(auth.MissionRead), s.exportTestsCSV},
		{http.MethodGet, "/missions/:id/export/mission.json", need(auth.MissionRead), s.exportMissionJSON},
		{http.MethodGet, "/missions/:id/plan/navigator", need(auth.MissionRead), s.showNavigatorImport},
		{http.MethodPost, "/missions/:id/plan/navigator", need(auth.MissionRead), s.previewNavigatorImport},
		{http.MethodPost, "/missions/:id/plan/navigator/confirm", need(auth.MissionRead), s.confirmNavigatorImport},

		// Administration: detection scale and settings.
		{http.MethodGet, "/admin/detection-levels", need(auth.SettingsManage), s.listDetectionLevels},
		{http.MethodPost, "/admin/detection-levels", need(auth.SettingsManage), s.createDetectionLevel},
		{http.MethodGet, "/admin/detection-levels/:id", need(auth.SettingsManage), s.editDetectionLevel},
		{http.MethodPost, "/admin/detection-levels/:id", need(auth.SettingsManage), s.updateDetectionLevel},
		{http.MethodPost, "/admin/detection-levels/:id/move", need(auth.SettingsManage), s.moveDetectionLevel},
		{http.MethodPost, "/admin/detection-levels/:id/retire", need(auth.SettingsManage), s.retireDetectionLevel},
		{http.MethodPost, "/admin/detection-levels/:id/unretire", need(auth.SettingsManage), s.unretireDetectionLevel},
		{http.MethodPost, "/admin/detection-levels/:id/delete", need(auth.SettingsManage), s.deleteDetectionLevel},
		{http.MethodGet, scale.Path, public, s.showScaleCSS},
		{http.MethodGet, "/admin/settings", need(auth.SettingsManage), s.showSettings},
		{http.MethodPost, "/admin/settings", need(auth.SettingsManage), s.updateSettings},
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
		if r.path == metricsPath {
			mw[0] = s.metricsAccess(r.access)
		}
		if r.path == static.Prefix+"*" {
			mw = append(mw, gzip)
		}
		e.Add(r.method, r.path, r.handler, mw...)
		if r.method == http.MethodGet {
			// Probes and link checkers send HEAD; the server drops the body.
			e.Add(http.MethodHead, r.path, r.handler, mw...)
		}
	}
}
