package vectr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	"violet/ent/detectionlevel"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/evidence"
)

// Service runs the VECTR import: the mapping it proposes and the import
// itself, each as the viewer in the context.
type Service struct {
	client *ent.Client
	now    func() time.Time
	// store keeps uploads between the mapping step and its confirmation
	// (stage.go): the evidence store, which every instance shares.
	store evidence.Store
}

// NewService returns the import service over client.
func NewService(client *ent.Client) *Service {
	return &Service{client: client, now: time.Now}
}

// Tool choices for a VECTR tool name.
const (
	ToolUse    = "use"    // record its outcomes under an existing defensive tool
	ToolCreate = "create" // create a defensive tool of that name
	ToolIgnore = "ignore" // record nothing for it
)

// ToolChoice is what becomes of one VECTR tool name: Action (ToolUse,
// ToolCreate or ToolIgnore) and, for ToolUse, the defensive tool.
type ToolChoice struct {
	Action string
	ToolID uuid.UUID
}

// Mapping is the importer's confirmed mapping: each VECTR outcome onto a
// level of the detection scale (uuid.Nil or absent: no outcome recorded),
// each VECTR tool name onto a defensive tool.
type Mapping struct {
	Outcomes map[string]uuid.UUID
	Tools    map[string]ToolChoice
}

// Level is a level of the detection scale the mapping may choose.
type Level struct {
	ID       uuid.UUID
	Name     string
	Score    int
	Detected bool
}

// Tool is a defensive tool of the registry the mapping may choose.
type Tool struct {
	ID   uuid.UUID
	Name string
}

// Proposal is the mapping proposed for an export, with what the mapping
// step offers: the scale's levels (best first) and the registry's tools.
type Proposal struct {
	Mapping Mapping
	Levels  []Level
	Tools   []Tool
}

// allowed checks the viewer may import a VECTR history: it makes
// missions (mission.create) from the library's import (template.write).
func allowed(ctx context.Context) (*auth.Viewer, error) {
	v := auth.FromContext(ctx)
	if v == nil || !v.Can(auth.TemplateWrite) || !v.Can(auth.MissionCreate) {
		return nil, app.ErrForbidden
	}
	return v, nil
}

// Propose returns the default mapping of e: each outcome onto the level
// of the scale that means it (by name, else by what counts as detected
// and by score: Blocked the best detected level, Detected the best
// detected level below it, NotDetected the lowest level not detected;
// TBD onto none), and each tool name onto the registry's tool of that
// name ignoring case, else ToolCreate.
func (s *Service) Propose(ctx context.Context, e *Export) (Proposal, error) {
	var p Proposal
	if _, err := allowed(ctx); err != nil {
		return p, err
	}
	levels, tools, err := s.options(ctx)
	if err != nil {
		return p, err
	}
	p.Levels, p.Tools = levels, tools
	p.Mapping = Mapping{Outcomes: defaultOutcomes(levels), Tools: map[string]ToolChoice{}}
	for _, name := range e.Tools {
		choice := ToolChoice{Action: ToolCreate}
		if i := slices.IndexFunc(tools, func(t Tool) bool { return strings.EqualFold(t.Name, name) }); i >= 0 {
			choice = ToolChoice{Action: ToolUse, ToolID: tools[i].ID}
		}
		p.Mapping.Tools[name] = choice
	}
	return p, nil
}

// options reads the levels of the scale in use (best first) and the
// registry's tools not deleted (by name).
func (s *Service) options(ctx context.Context) ([]Level, []Tool, error) {
	ls, err := s.client.DetectionLevel.Query().Where(detectionlevel.Retired(false)).
		Order(ent.Asc(detectionlevel.FieldPosition)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the detection scale: %w", err)
	}
	levels := make([]Level, len(ls))
	for i, l := range ls {
		levels[i] = Level{ID: l.ID, Name: l.Name, Score: l.Score, Detected: l.CountsAsDetected}
	}
	ts, err := s.client.DefensiveTool.Query().Order(ent.Asc(defensivetool.FieldName)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the defensive tools: %w", err)
	}
	tools := make([]Tool, len(ts))
	for i, t := range ts {
		tools[i] = Tool{ID: t.ID, Name: t.Name}
	}
	return levels, tools, nil
}

// meanings are the names a scale may give each VECTR outcome.
var meanings = map[string][]string{
	"Blocked":     {"blocked", "prevented"},
	"Detected":    {"detected", "alerted", "alert"},
	"NotDetected": {"not detected", "notdetected", "missed", "none"},
}

// defaultOutcomes maps each VECTR outcome onto the level that means it.
func defaultOutcomes(levels []Level) map[string]uuid.UUID {
	out := map[string]uuid.UUID{}
	byName := func(outcome string) (uuid.UUID, bool) {
		for _, l := range levels {
			if slices.Contains(meanings[outcome], strings.ToLower(strings.TrimSpace(l.Name))) {
				return l.ID, true
			}
		}
		return uuid.Nil, false
	}
	// By score, best first (levels come in the scale's order, ties kept).
	sorted := slices.Clone(levels)
	slices.SortStableFunc(sorted, func(a, b Level) int { return b.Score - a.Score })
	var detected, missed []Level
	for _, l := range sorted {
		if l.Detected {
			detected = append(detected, l)
		} else {
			missed = append(missed, l)
		}
	}
	if id, ok := byName("Blocked"); ok {
		out["Blocked"] = id
	} else if len(detected) > 0 {
		out["Blocked"] = detected[0].ID
	}
	if id, ok := byName("Detected"); ok {
		out["Detected"] = id
	} else if len(detected) > 1 {
		out["Detected"] = detected[1].ID
	} else if len(detected) == 1 {
		out["Detected"] = detected[0].ID
	}
	if id, ok := byName("NotDetected"); ok {
		out["NotDetected"] = id
	} else if len(missed) > 0 {
		out["NotDetected"] = missed[len(missed)-1].ID
	}
	return out
}
