package execlog

import (
	"strconv"

	"violet/views/execlog"
)

// PreviewView is the page's preview of pl, carrying the sealed upload
// for the apply form.
func PreviewView(pl Plan, sealed Sealed) *execlog.Preview {
	row := func(it Item) execlog.Row {
		r := execlog.Row{Key: it.Key, Technique: it.Technique, Name: it.Name, TestName: it.TestName, Already: it.Already}
		if it.TestNumber > 0 {
			r.Number = " #" + strconv.Itoa(it.TestNumber)
		}
		if it.Matched {
			r.TestID = it.TestID.String()
		}
		for _, c := range it.Changes {
			r.Changes = append(r.Changes, execlog.Change{Field: c.Field, Old: c.Old, New: c.New})
		}
		return r
	}
	p := &execlog.Preview{Format: pl.Format, ExecutionID: pl.ExecutionID, Host: pl.Host, User: pl.User,
		FileName: sealed.Name, Content: sealed.Content, At: sealed.At, MAC: sealed.MAC}
	for _, it := range pl.Items {
		p.Rows = append(p.Rows, row(it))
	}
	for _, it := range pl.Unmatched {
		p.Unmatched = append(p.Unmatched, row(it))
	}
	return p
}

// SummaryView is the page's summary of res.
func SummaryView(res Result) *execlog.Summary {
	return &execlog.Summary{Updated: res.Updated, Unchanged: res.Unchanged, Added: res.Added,
		Evidence: res.Evidence, Skipped: res.Skipped}
}
