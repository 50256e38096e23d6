package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// Expected outcome codes of the role × route matrix.
const (
	L = "login"     // sent to the sign-in page (303 to /login)
	F = "forbidden" // 403
	O = "ok"        // let through: any answer but the two above and a 5xx
)

// The JSON API's routes (access "token:…") are called with a bearer token
// of each role's account holding every scope (TestAPIScopes covers the
// scopes) instead of a session; "anonymous" sends none and gets 401, which
// the matrix counts as L. Their missions and tests do not exist (404, O):
// what the roles may do on a mission is the workflows' (TestAPI*).
var apiMatrix = map[string][6]string{
	"GET /api/v1/missions":                                               {L, F, O, O, O, O},
	"POST /api/v1/missions":                                              {L, F, O, F, F, O},
	"GET /api/v1/missions/:missionId":                                    {L, F, O, O, O, O},
	"POST /api/v1/missions/:missionId/status":                            {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/tests":                              {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/tests/:testId":                      {L, F, O, O, O, O},
	"PUT /api/v1/missions/:missionId/tests/:testId/red":                  {L, F, O, O, O, O},
	"POST /api/v1/missions/:missionId/tests/:testId/release":             {L, F, O, O, O, O},
	"PUT /api/v1/missions/:missionId/tests/:testId/outcomes/:toolId":     {L, F, O, O, O, O},
	"POST /api/v1/missions/:missionId/tests/:testId/review":              {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/tests/:testId/evidence":             {L, F, O, O, O, O},
	"POST /api/v1/missions/:missionId/tests/:testId/evidence":            {L, F, O, O, F, O},
	"GET /api/v1/missions/:missionId/tests/:testId/evidence/:evidenceId": {L, F, O, O, O, O},
	"POST /api/v1/missions/:missionId/executions":                        {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/export/tests.csv":                   {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/export/mission.json":                {L, F, O, O, O, O},
	"GET /api/v1/attack/:externalId":                                     {L, F, O, O, O, O},
	"GET /api/v1/missions/:missionId/archive":                            {L, F, O, O, O, O},
	"POST /api/v1/missions/import":                                       {L, F, O, F, F, O},
	"GET /api/v1/templates":                                              {L, F, O, O, O, O},
	"POST /api/v1/templates":                                             {L, F, O, F, F, O},
	"GET /api/v1/templates/:templateId":                                  {L, F, O, O, O, O},
	"GET /api/v1/scenarios":                                              {L, F, O, O, O, O},
	"POST /api/v1/scenarios":                                             {L, F, O, F, F, O},
	"GET /api/v1/scenarios/:scenarioId":                                  {L, F, O, O, O, O},
	"POST /api/v1/library/imports":                                       {L, F, O, F, F, O},
	"GET /api/v1/jobs/:jobId":                                            {L, F, O, F, F, O},
	"POST /api/v1/attack/syncs":                                          {L, F, F, F, F, O},
	"GET /api/v1/attack/syncs/:syncId":                                   {L, F, F, F, F, O},
	"GET /api/v1/attack":                                                 {L, F, O, O, O, O},
	"GET /api/v1/insights":                                               {L, F, F, F, F, O},
	"POST /api/v1/library/imports/vectr":                                 {L, F, O, F, F, O},
}

// roles are the kinds of viewer the matrix tries, in column order.
var roles = []string{"anonymous", "no groups", "redteam", "blueteam", "observer", "admin"}

// matrix is the expected outcome of every route for every role, written out by
// hand from the access rules (docs/ARCHITECTURE.md, "Rules that matter") and
// the seeded groups: a route added to the table without a row here fails the
// test, and so does an access rule that changes without this table changing
// with it.
var matrix = map[string][6]string{
	"GET /":                           {L, O, O, O, O, O},
	"GET /diag":                       {L, O, O, O, O, O},
	"GET /events":                     {L, O, O, O, O, O},
	"GET /notifications":              {L, O, O, O, O, O},
	"GET /notifications/bell":         {L, O, O, O, O, O},
	"POST /notifications/read-all":    {L, O, O, O, O, O},
	"POST /notifications/preferences": {L, O, O, O, O, O},
	"POST /notifications/:id/read":    {L, O, O, O, O, O},
	"POST /notifications/:id/open":    {L, O, O, O, O, O},
	"GET /api/v1/diag/db":             {O, O, O, O, O, O},
	"GET /api/v1/openapi.json":        {O, O, O, O, O, O},
	"GET /api/docs":                   {O, O, O, O, O, O},
	"GET /healthz":                    {O, O, O, O, O, O},
	"GET /readyz":                     {O, O, O, O, O, O},
	"GET /metrics":                    {L, F, F, F, F, O},
	"GET /static/*":                   {O, O, O, O, O, O},
	"GET /login":                      {O, O, O, O, O, O},
	"POST /login":                     {O, O, O, O, O, O},
	"GET /login/oidc/start":           {O, O, O, O, O, O},
	"GET /login/oidc/callback":        {O, O, O, O, O, O},
	"GET /saml/:key/metadata":         {O, O, O, O, O, O},
	"GET /login/saml/:key":            {O, O, O, O, O, O},
	"POST /saml/:key/acs":             {O, O, O, O, O, O},
	"POST /logout":                    {L, O, O, O, O, O},

	// Passkey sign-in: public; without a ceremony cookie the answer is
	// refused (400), as without a pending sign-in for the second step.
	"POST /login/passkey":                      {O, O, O, O, O, O},
	"POST /login/passkey/finish":               {O, O, O, O, O, O},
	"POST /login/second-factor/passkey":        {O, O, O, O, O, O},
	"POST /login/second-factor/passkey/finish": {O, O, O, O, O, O},

	// Public, but without a pending sign-in (a verified password) both
	// send to the sign-in page.
	"GET /login/second-factor":  {L, L, L, L, L, L},
	"POST /login/second-factor": {L, L, L, L, L, L},
	// Without an identity waiting for its account's password: the
	// sign-in page.
	"GET /login/link":  {L, L, L, L, L, L},
	"POST /login/link": {L, L, L, L, L, L},

	"GET /admin/invitations":                 {L, F, F, F, F, O},
	"POST /admin/invitations":                {L, F, F, F, F, O},
	"POST /admin/invitations/:id/revoke":     {L, F, F, F, F, O},
	"POST /admin/users/:id/reset-invitation": {L, F, F, F, F, O},
	"GET /invitations/:token":                {O, O, O, O, O, O},
	"POST /invitations/:token":               {O, O, O, O, O, O},

	"GET /account/security":                 {L, O, O, O, O, O},
	"POST /account/security/totp":           {L, O, O, O, O, O},
	"POST /account/security/totp/confirm":   {L, O, O, O, O, O},
	"POST /account/security/totp/remove":    {L, O, O, O, O, O},
	"POST /account/security/recovery-codes": {L, O, O, O, O, O},

	"POST /account/security/passkeys":              {L, O, O, O, O, O},
	"POST /account/security/passkeys/finish":       {L, O, O, O, O, O},
	"POST /account/security/passkeys/:id/rename":   {L, O, O, O, O, O},
	"POST /account/security/passkeys/:id/remove":   {L, O, O, O, O, O},
	"POST /account/security/identities/link":       {L, O, O, O, O, O},
	"POST /account/security/identities/:id/unlink": {L, O, O, O, O, O},
	// API tokens: the viewer's own (internal/apitoken).
	"POST /account/api-tokens":            {L, O, O, O, O, O},
	"POST /account/api-tokens/:id/revoke": {L, O, O, O, O, O},

	"GET /account":                      {L, O, O, O, O, O},
	"POST /account/profile":             {L, O, O, O, O, O},
	"POST /account/password":            {L, O, O, O, O, O},
	"POST /account/language":            {L, O, O, O, O, O},
	"POST /account/sessions/end-others": {L, O, O, O, O, O},
	"POST /account/sessions/:id/end":    {L, O, O, O, O, O},

	// Service accounts and their tokens: user.manage.
	"GET /admin/service-accounts":                           {L, F, F, F, F, O},
	"POST /admin/service-accounts":                          {L, F, F, F, F, O},
	"GET /admin/service-accounts/:id":                       {L, F, F, F, F, O},
	"POST /admin/service-accounts/:id/tokens":               {L, F, F, F, F, O},
	"POST /admin/service-accounts/:id/tokens/:token/revoke": {L, F, F, F, F, O},

	"GET /admin/users":                         {L, F, F, F, F, O},
	"GET /admin/users/:id":                     {L, F, F, F, F, O},
	"POST /admin/users/:id/groups":             {L, F, F, F, F, O},
	"POST /admin/users/:id/deactivate":         {L, F, F, F, F, O},
	"POST /admin/users/:id/reactivate":         {L, F, F, F, F, O},
	"POST /admin/users/:id/delete":             {L, F, F, F, F, O},
	"POST /admin/users/:id/restore":            {L, F, F, F, F, O},
	"POST /admin/users/:id/end-sessions":       {L, F, F, F, F, O},
	"POST /admin/users/:id/remove-totp":        {L, F, F, F, F, O},
	"GET /admin/groups":                        {L, F, F, F, F, O},
	"GET /admin/groups/new":                    {L, F, F, F, F, O},
	"POST /admin/groups":                       {L, F, F, F, F, O},
	"GET /admin/groups/:id":                    {L, F, F, F, F, O},
	"POST /admin/groups/:id":                   {L, F, F, F, F, O},
	"POST /admin/groups/:id/delete":            {L, F, F, F, F, O},
	"POST /admin/groups/:id/permissions":       {L, F, F, F, F, O},
	"POST /admin/groups/:id/permissions/:code": {L, F, F, F, F, O},

	"GET /admin/sign-in":                {L, F, F, F, F, O},
	"GET /admin/sign-in/new":            {L, F, F, F, F, O},
	"POST /admin/sign-in/new":           {L, F, F, F, F, O},
	"POST /admin/sign-in/policy":        {L, F, F, F, F, O},
	"GET /admin/sign-in/:id":            {L, F, F, F, F, O},
	"POST /admin/sign-in/:id":           {L, F, F, F, F, O},
	"POST /admin/sign-in/:id/enable":    {L, F, F, F, F, O},
	"POST /admin/sign-in/:id/disable":   {L, F, F, F, F, O},
	"POST /admin/sign-in/:id/delete":    {L, F, F, F, F, O},
	"POST /admin/users/:id/break-glass": {L, F, F, F, F, O},

	"GET /admin/audit": {L, F, F, F, F, O},
	"GET /admin/trash": {L, F, F, F, F, O},

	"GET /admin/attack-sync":         {L, F, F, F, F, O},
	"POST /admin/attack-sync/url":    {L, F, F, F, F, O},
	"POST /admin/attack-sync/upload": {L, F, F, F, F, O},
	"GET /admin/attack-sync/:id":     {L, F, F, F, F, O},

	"GET /insights":                {L, F, F, F, F, O},
	"GET /insights.csv":            {L, F, F, F, F, O},
	"GET /insights/navigator.json": {L, F, F, F, F, O},

	"GET /attack":              {L, F, O, O, O, O},
	"GET /attack/search":       {L, F, O, O, O, O},
	"GET /attack/picker":       {L, F, O, O, O, O},
	"GET /attack/:external_id": {L, F, O, O, O, O},

	"GET /library/scenarios":                   {L, F, O, O, O, O},
	"GET /library/scenarios/new":               {L, F, O, F, F, O},
	"POST /library/scenarios":                  {L, F, O, F, F, O},
	"GET /library/scenarios/:id":               {L, F, O, O, O, O},
	"POST /library/scenarios/:id":              {L, F, O, F, F, O},
	"GET /library/scenarios/:id/candidates":    {L, F, O, F, F, O},
	"POST /library/scenarios/:id/tests":        {L, F, O, F, F, O},
	"POST /library/scenarios/:id/tests/move":   {L, F, O, F, F, O},
	"POST /library/scenarios/:id/tests/remove": {L, F, O, F, F, O},
	"POST /library/scenarios/:id/order":        {L, F, O, F, F, O},
	"POST /library/scenarios/:id/duplicate":    {L, F, O, F, F, O},
	"POST /library/scenarios/:id/delete":       {L, F, O, F, F, O},
	"POST /library/scenarios/:id/restore":      {L, F, F, F, F, O},

	"GET /library/import":          {L, F, O, F, F, O},
	"POST /library/import/atomic":  {L, F, O, F, F, O},
	"POST /library/import/library": {L, F, O, F, F, O},
	"GET /library/import/:id":      {L, F, O, F, F, O},
	"GET /library/export":          {L, F, O, O, O, O},

	// The VECTR history import (its workflow also needs mission.create,
	// which the red team has).
	"GET /library/import/vectr":      {L, F, O, F, F, O},
	"POST /library/import/vectr":     {L, F, O, F, F, O},
	"POST /library/import/vectr/run": {L, F, O, F, F, O},

	"GET /admin/detection-levels":               {L, F, F, F, F, O},
	"POST /admin/detection-levels":              {L, F, F, F, F, O},
	"GET /admin/detection-levels/:id":           {L, F, F, F, F, O},
	"POST /admin/detection-levels/:id":          {L, F, F, F, F, O},
	"POST /admin/detection-levels/:id/move":     {L, F, F, F, F, O},
	"POST /admin/detection-levels/:id/retire":   {L, F, F, F, F, O},
	"POST /admin/detection-levels/:id/unretire": {L, F, F, F, F, O},
	"POST /admin/detection-levels/:id/delete":   {L, F, F, F, F, O},
	"GET /admin/tools":                          {L, F, F, F, F, O},
	"POST /admin/tools":                         {L, F, F, F, F, O},
	"GET /admin/tools/:id":                      {L, F, F, F, F, O},
	"POST /admin/tools/:id":                     {L, F, F, F, F, O},
	"POST /admin/tools/:id/deactivate":          {L, F, F, F, F, O},
	"POST /admin/tools/:id/reactivate":          {L, F, F, F, F, O},
	"POST /admin/tools/:id/delete":              {L, F, F, F, F, O},
	"POST /admin/tools/:id/restore":             {L, F, F, F, F, O},
	"GET /static-gen/levels.css":                {O, O, O, O, O, O},
	"GET /admin/settings":                       {L, F, F, F, F, O},
	"POST /admin/settings":                      {L, F, F, F, F, O},

	"GET /library":                      {L, F, O, O, O, O},
	"GET /library/tests":                {L, F, O, O, O, O},
	"GET /library/tests/new":            {L, F, O, F, F, O},
	"POST /library/tests":               {L, F, O, F, F, O},
	"POST /library/tests/preview":       {L, F, O, F, F, O},
	"POST /library/tests/bulk/add":      {L, F, O, F, F, O},
	"POST /library/tests/bulk/delete":   {L, F, O, F, F, O},
	"GET /library/tests/:id":            {L, F, O, O, O, O},
	"GET /library/tests/:id/edit":       {L, F, O, F, F, O},
	"POST /library/tests/:id":           {L, F, O, F, F, O},
	"POST /library/tests/:id/duplicate": {L, F, O, F, F, O},
	"POST /library/tests/:id/delete":    {L, F, O, F, F, O},
	"POST /library/tests/:id/restore":   {L, F, F, F, F, O},

	"GET /missions":                             {L, F, O, O, O, O},
	"GET /missions/new":                         {L, F, O, F, F, O},
	"POST /missions":                            {L, F, O, F, F, O},
	"GET /missions/import":                      {L, F, O, F, F, O},
	"POST /missions/import":                     {L, F, O, F, F, O},
	"POST /missions/import/confirm":             {L, F, O, F, F, O},
	"GET /missions/:id/settings":                {L, F, O, O, O, O},
	"POST /missions/:id/settings":               {L, F, O, O, O, O},
	"POST /missions/:id/status":                 {L, F, O, O, O, O},
	"POST /missions/:id/delete":                 {L, F, O, O, O, O},
	"POST /missions/:id/restore":                {L, F, F, F, F, O},
	"GET /missions/:id/members":                 {L, F, O, O, O, O},
	"GET /missions/:id/members/candidates":      {L, F, O, O, O, O},
	"POST /missions/:id/members":                {L, F, O, O, O, O},
	"POST /missions/:id/members/:user/role":     {L, F, O, O, O, O},
	"POST /missions/:id/members/:user/remove":   {L, F, O, O, O, O},
	"GET /missions/:id/categories":              {L, F, O, O, O, O},
	"POST /missions/:id/categories":             {L, F, O, O, O, O},
	"POST /missions/:id/categories/:cat":        {L, F, O, O, O, O},
	"POST /missions/:id/categories/:cat/move":   {L, F, O, O, O, O},
	"POST /missions/:id/categories/:cat/delete": {L, F, O, O, O, O},

	"GET /missions/:id":                                  {L, F, O, O, O, O},
	"GET /missions/:id/figures":                          {L, F, O, O, O, O},
	"GET /missions/:id/timeline":                         {L, F, O, O, O, O},
	"GET /missions/:id/gaps":                             {L, F, O, O, O, O},
	"GET /missions/:id/retest":                           {L, F, O, O, O, O},
	"POST /missions/:id/retest":                          {L, F, O, O, O, O},
	"GET /missions/:id/retests":                          {L, F, O, O, O, O},
	"GET /missions/:id/compare":                          {L, F, O, O, O, O},
	"GET /missions/:id/execution-log":                    {L, F, O, O, O, O},
	"POST /missions/:id/execution-log":                   {L, F, O, O, O, O},
	"POST /missions/:id/execution-log/apply":             {L, F, O, O, O, O},
	"GET /missions/:id/report":                           {L, F, O, O, O, O},
	"GET /missions/:id/tests/:test/evidence":             {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/evidence":            {L, F, O, O, F, O},
	"GET /missions/:id/tests/:test/evidence/:ev":         {L, F, O, O, O, O},
	"GET /missions/:id/tests/:test/evidence/:ev/preview": {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/evidence/:ev/delete": {L, F, O, O, O, O},
	"GET /missions/:id/report/page.css":                  {L, F, O, O, O, O},
	"GET /missions/:id/export/navigator.json":            {L, F, O, O, O, O},
	"GET /missions/:id/export/tests.csv":                 {L, F, O, O, O, O},
	"GET /missions/:id/export/mission.json":              {L, F, O, O, O, O},
	"GET /missions/:id/export/mission.zip":               {L, F, O, O, O, O},
	"GET /missions/:id/plan/navigator":                   {L, F, O, O, O, O},
	"POST /missions/:id/plan/navigator":                  {L, F, O, O, O, O},
	"POST /missions/:id/plan/navigator/confirm":          {L, F, O, O, O, O},
	"GET /missions/:id/plan/scenarios":                   {L, F, O, O, O, O},
	"POST /missions/:id/plan/scenarios":                  {L, F, O, O, O, O},
	"GET /missions/:id/plan/tests":                       {L, F, O, O, O, O},
	"POST /missions/:id/plan/tests":                      {L, F, O, O, O, O},
	"POST /missions/:id/plan/tests/new":                  {L, F, O, O, O, O},
	"POST /missions/:id/plan/tests/:test/move":           {L, F, O, O, O, O},
	"POST /missions/:id/plan/tests/:test/category":       {L, F, O, O, O, O},
	"POST /missions/:id/plan/tests/:test/remove":         {L, F, O, O, O, O},

	"GET /missions/:id/tests/:test":                 {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/start":          {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/stop":           {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/red":            {L, F, O, O, O, O},
	"GET /missions/:id/tests/:test/expected-rules":  {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/expected-rules": {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/release":        {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/set-aside":      {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/blue":           {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/review":         {L, F, O, O, O, O},
	"POST /missions/:id/tests/:test/reopen":         {L, F, O, O, O, O},
	"POST /missions/:id/tests/bulk":                 {L, F, O, O, O, O},
}

// TestRoleRouteMatrix walks the route table and asks every route as every
// role, asserting the status each gets (deny by default at the route level;
// object-level checks live in each resource's tests).
func TestRoleRouteMatrix(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	ctx := rule.SystemContext(t.Context())
	users := map[string]uuid.UUID{}
	for _, role := range roles[1:] {
		email := strings.ReplaceAll(role, " ", "") + "@example.com"
		if role == "no groups" {
			users[role] = app.User(t, email).ID
		} else {
			users[role] = app.User(t, email, role).ID
		}
	}
	target := app.User(t, "target@example.com", "observer")
	grp := app.Ent.Group.Create().SetName("matrix").SaveX(ctx)
	inv := app.Ent.Invitation.Create().SetTokenHash(strings.Repeat("ab", 32)).
		SetExpiresAt(app.Now().Add(24 * 3600e9)).SaveX(ctx)
	css := regexp.MustCompile(`/static/css/app\.[0-9a-f]+\.css`).FindString(app.Get("/login").Body.String())
	concrete := strings.NewReplacer(
		"/static/*", css,
		"/admin/users/:id", "/admin/users/"+target.ID.String(),
		"/admin/groups/:id", "/admin/groups/"+grp.ID.String(),
		"/admin/invitations/:id", "/admin/invitations/"+inv.ID.String(),
		"/invitations/:token", "/invitations/not-a-real-token",
		"/account/sessions/:id", "/account/sessions/"+uuid.NewString(),
		"/permissions/:code", "/permissions/mission.read",
		// A stream of a mission nobody may see: 404 at once, where a real
		// stream would stay open (handlers/events_test.go covers those).
		"/events", "/events?mission="+uuid.NewString(),
	)

	tokens := map[string]string{}
	api := newAPIClient(t, app)
	for role, id := range users {
		tokens[role] = api.token(id, "matrix", "admin")
	}
	concrete = strings.NewReplacer(append(concreteParams(),
		"/static/*", css,
		"/admin/users/:id", "/admin/users/"+target.ID.String(),
		"/admin/groups/:id", "/admin/groups/"+grp.ID.String(),
		"/admin/invitations/:id", "/admin/invitations/"+inv.ID.String(),
		"/invitations/:token", "/invitations/not-a-real-token",
		"/account/sessions/:id", "/account/sessions/"+uuid.NewString(),
		"/permissions/:code", "/permissions/mission.read",
		"/events", "/events?mission="+uuid.NewString(),
	)...)

	seen := map[string]bool{}
	for _, r := range app.Routes() {
		key := r.Method + " " + r.Path
		seen[key] = true
		if strings.HasPrefix(r.Access, "token:") {
			want, ok := apiMatrix[key]
			if !ok {
				t.Errorf("API route %s (access %s) has no row in the matrix", key, r.Access)
				continue
			}
			path := concrete.Replace(r.Path)
			for i, role := range roles {
				t.Run(fmt.Sprintf("%s/%s", key, role), func(t *testing.T) {
					body := "{}"
					switch key {
					case "POST /api/v1/missions", "POST /api/v1/templates", "POST /api/v1/scenarios":
						body = `{"name":"Matrix"}`
					}
					req := httptest.NewRequest(r.Method, path, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("If-Match", `"1"`)
					if role != "anonymous" {
						req.Header.Set("Authorization", "Bearer "+tokens[role])
					}
					w := app.Do(req)
					if got := outcome(w); got != want[i] || w.Code >= 500 {
						t.Errorf("%s %s as %s: status %d (%s), want %s: %s", r.Method, path, role, w.Code, got, want[i], w.Body.String())
					}
				})
			}
			continue
		}
		want, ok := matrix[key]
		if !ok {
			t.Errorf("route %s (access %s) has no row in the matrix", key, r.Access)
			continue
		}
		path := concrete.Replace(r.Path)
		for i, role := range roles {
			t.Run(fmt.Sprintf("%s/%s", key, role), func(t *testing.T) {
				var cookie *http.Cookie
				if role != "anonymous" {
					// A fresh session for every request: some routes end it.
					cookie = sessionCookie(t, app, users[role])
				}
				var w *httptest.ResponseRecorder
				if r.Method == http.MethodGet {
					w = app.GetAs(cookie, path)
				} else {
					w = app.PostAs(cookie, path, url.Values{})
				}
				got := outcome(w)
				if got != want[i] || w.Code >= 500 {
					t.Errorf("%s %s as %s: status %d (%s), want %s", r.Method, path, role, w.Code, got, want[i])
				}
			})
		}
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("matrix row %s names no route in the table", key)
		}
	}
	for key := range apiMatrix {
		if !seen[key] {
			t.Errorf("API matrix row %s names no route in the table", key)
		}
	}
}

// concreteParams fills the API's path parameters with ids nothing has.
func concreteParams() []string {
	return []string{":missionId", uuid.NewString(), ":testId", uuid.NewString(), ":evidenceId", uuid.NewString(),
		":toolId", "none", ":externalId", "T1059", ":templateId", uuid.NewString(), ":scenarioId", uuid.NewString(),
		":jobId", uuid.NewString(), ":syncId", uuid.NewString()}
}

// outcome classifies a response for the matrix. A logout also lands on
// /login, but it is let through: it clears the session cookie, which a
// refusal never does.
func outcome(w *httptest.ResponseRecorder) string {
	switch {
	case w.Code == http.StatusForbidden:
		return F
	case w.Code == http.StatusUnauthorized && strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer"):
		return L // the API's "sign in": a token is needed
	case w.Code == http.StatusSeeOther && strings.HasPrefix(w.Header().Get("Location"), "/login"):
		for _, c := range w.Result().Cookies() {
			if c.MaxAge < 0 && strings.Contains(c.Name, "violet_session") {
				return O
			}
		}
		return L
	}
	return O
}

// sessionCookie starts a session for userID directly in the store.
func sessionCookie(t *testing.T, app *apptest.App, userID uuid.UUID) *http.Cookie {
	t.Helper()
	token, rec, err := app.Sessions.Create(t.Context(), app.DB, userID, auth.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	app.Sessions.SetCookie(w, token, rec.ExpiresAt)
	return w.Result().Cookies()[0]
}
