package missionarchive

import (
	"violet/internal/paths"
	views "violet/views/missionarchive"
)

// Props is the import page's summary of p (the handler's
// *AlreadyImported, if any, is p.Already).
func (p *Plan) Props() *views.Plan {
	out := &views.Plan{
		MissionName: p.MissionName, ReleasedOnly: p.ReleasedOnly, Tests: p.Tests, Categories: p.Categories,
		Scenarios: p.Scenarios, Files: p.Files, Bytes: p.Bytes, LeftOut: p.LeftOut, ImporterAdded: p.ImporterAdded,
		NewIDs: p.NewIDs, Templates: matches(p.Templates), Tools: matches(p.Tools), Levels: matches(p.Levels),
	}
	for _, m := range p.Members {
		out.Members = append(out.Members, views.Member{Email: m.Email, Name: m.Name, RoleKey: "missions.members.role_" + m.Role})
	}
	return out
}

func matches(ms []Match) []views.Match {
	out := make([]views.Match, len(ms))
	for i, m := range ms {
		out[i] = views.Match{Name: m.Name, Created: m.Created}
	}
	return out
}

// ImportPage is the import page once an archive is read: its summary,
// the confirmation's token, and the mission it was imported as if it was.
func (p *Previewed) ImportPage() views.Import {
	out := views.Import{Plan: p.Plan.Props(), Token: p.Token}
	if a := p.Plan.Already; a != nil {
		out.AlreadyURL, out.AlreadyName = paths.URL(paths.Mission, a.MissionID), a.MissionName
	}
	return out
}

// RefusedPage is the upload form again with the reason err gives, when
// it is a refusal of the archive (false otherwise).
func RefusedPage(err error) (views.Import, bool) {
	r, ok := asRefused(err)
	if !ok {
		return views.Import{}, false
	}
	return views.Import{Errors: map[string]string{"archive": r.Reason}, Detail: r.Detail}, true
}
