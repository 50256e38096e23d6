package api

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/evidence"
	"violet/internal/execlog"
	"violet/internal/libraryimport"
	"violet/internal/mission"
	"violet/internal/missionarchive"
	"violet/internal/vectr"
)

// Deps are the workflows the API calls: the same ones as the pages.
type Deps struct {
	Ent      *ent.Client
	DB       *sql.DB // the read models that run SQL (insights)
	Missions *mission.Service
	Steps    *mission.Steps
	Evidence *evidence.Service
	ExecLogs *execlog.Service
	Vectr    *vectr.Service
	Archives *missionarchive.Service
	Imports  *libraryimport.Service
	Syncer   *attack.Syncer
	// Hold takes a place among the large documents built at once (the
	// pages' exports share it) and returns its release.
	Hold func(ctx context.Context) (func(), error)
	Now  func() time.Time
}

// Server answers the API's operations (StrictServerInterface). Each one
// parses what the generated layer did not, calls one workflow or read
// model and shapes its answer; it never opens a transaction itself.
type Server struct{ d Deps }

// New returns the API's server.
func New(d Deps) *Server { return &Server{d: d} }

var _ StrictServerInterface = (*Server)(nil)

// ErrPrecondition: the If-Match ETag is not the test's current one (412).
var ErrPrecondition = errors.New("the test changed since it was read: read it again and retry")

// etag is a test's ETag: its version, as a strong validator.
func etag(version int) string { return strconv.Quote(strconv.Itoa(version)) }

// ifMatch reads an If-Match value as a test version (0 for "*": any
// version). If-Match compares strongly (RFC 9110), so a weak tag, a list
// or anything else can never match: a 412, like a stale one.
func ifMatch(raw string) (int, error) {
	raw = strings.TrimSpace(raw)
	if raw == "*" {
		return 0, nil
	}
	if len(raw) < 3 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return 0, ErrPrecondition
	}
	v, err := strconv.Atoi(raw[1 : len(raw)-1])
	if err != nil || v < 1 {
		return 0, ErrPrecondition
	}
	return v, nil
}

// stale turns a workflow's version conflict into a 412: the API's clients
// said which version they wrote against, and it is not the current one.
func stale(err error) error {
	if errors.Is(err, mission.ErrConflict) {
		return fmt.Errorf("%w (%v)", ErrPrecondition, err)
	}
	return err
}

func (s *Server) access(ctx context.Context, id uuid.UUID) (*mission.Access, error) {
	return mission.Load(ctx, s.d.Ent, auth.FromContext(ctx), id)
}

// cursor is an opaque position in a list: the offset of the next item.
func encodeCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(n)))
}

func decodeCursor(raw *string) (int, error) {
	if raw == nil || *raw == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*raw)
	n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
	if err != nil || cerr != nil || !strings.HasPrefix(string(b), "o:") || n < 0 {
		return 0, app.Invalidf("cursor", "api.cursor.invalid")
	}
	return n, nil
}

func limitOf(l *int) int {
	if l == nil {
		return 50
	}
	return *l
}

// page cuts items at the cursor and returns the next one's cursor.
func page[T any](items []T, from, limit int) ([]T, *string) {
	if from > len(items) {
		from = len(items)
	}
	to := min(from+limit, len(items))
	if to == len(items) {
		return items[from:to], nil
	}
	next := encodeCursor(to)
	return items[from:to], &next
}

func missionOf(a *mission.Access) Mission {
	m := a.Mission
	out := Mission{
		Id: m.ID, Name: m.Name, Description: m.Description, Scope: m.Scope,
		Status: MissionStatus(m.Status), Labels: m.Labels, Role: MissionRole(a.ActsAs()),
		Version: m.Version, CreatedAt: m.CreatedAt,
	}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	if m.StartDate != nil {
		out.StartDate = &openapi_types.Date{Time: *m.StartDate}
	}
	if m.EndDate != nil {
		out.EndDate = &openapi_types.Date{Time: *m.EndDate}
	}
	return out
}

// ListMissions lists the missions the owner may see, newest first.
func (s *Server) ListMissions(ctx context.Context, req ListMissionsRequestObject) (ListMissionsResponseObject, error) {
	from, err := decodeCursor(req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	q := s.d.Ent.Mission.Query().Order(ent.Desc(entmission.FieldCreatedAt), ent.Desc(entmission.FieldID))
	if req.Params.Status != nil {
		q = q.Where(entmission.StatusEQ(entmission.Status(*req.Params.Status)))
	}
	limit := limitOf(req.Params.Limit)
	// One more than the page tells whether there is a next one.
	ms, err := q.Offset(from).Limit(limit + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	out := MissionPage{Items: make([]Mission, 0, len(ms))}
	if len(ms) > limit {
		ms = ms[:limit]
		next := encodeCursor(from + limit)
		out.NextCursor = &next
	}
	all, err := mission.LoadAll(ctx, s.d.Ent, auth.FromContext(ctx), ms)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		out.Items = append(out.Items, missionOf(a))
	}
	return ListMissions200JSONResponse(out), nil
}

// CreateMission creates a mission with the owner as its lead.
func (s *Server) CreateMission(ctx context.Context, req CreateMissionRequestObject) (CreateMissionResponseObject, error) {
	b := req.Body
	in := mission.MissionInput{Name: b.Name}
	if b.Description != nil {
		in.Description = *b.Description
	}
	if b.Scope != nil {
		in.Scope = *b.Scope
	}
	if b.StartDate != nil {
		in.StartDate = b.StartDate.Format(time.DateOnly)
	}
	if b.EndDate != nil {
		in.EndDate = b.EndDate.Format(time.DateOnly)
	}
	if b.Labels != nil {
		in.Labels = strings.Join(*b.Labels, ",")
	}
	m, err := s.d.Missions.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	a, err := s.access(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	loc := Base + "/missions/" + m.ID.String()
	return CreateMission201JSONResponse{Body: missionOf(a), Headers: CreateMission201ResponseHeaders{Location: &loc}}, nil
}

// GetMission returns one mission.
func (s *Server) GetMission(ctx context.Context, req GetMissionRequestObject) (GetMissionResponseObject, error) {
	a, err := s.access(ctx, req.MissionId)
	if err != nil {
		return nil, err
	}
	return GetMission200JSONResponse(missionOf(a)), nil
}

// ChangeMissionStatus moves a mission to another status.
func (s *Server) ChangeMissionStatus(ctx context.Context, req ChangeMissionStatusRequestObject) (ChangeMissionStatusResponseObject, error) {
	a, err := s.access(ctx, req.MissionId)
	if err != nil {
		return nil, err
	}
	if err := s.d.Missions.ChangeStatus(ctx, a, entmission.Status(req.Body.Status)); err != nil {
		return nil, err
	}
	if a, err = s.access(ctx, req.MissionId); err != nil {
		return nil, err
	}
	return ChangeMissionStatus200JSONResponse(missionOf(a)), nil
}
