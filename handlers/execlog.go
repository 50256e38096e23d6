package handlers

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/evidence"
	"violet/internal/execlog"
	"violet/internal/mission"
	"violet/internal/textrule"
	"violet/views/components"
	execlogviews "violet/views/execlog"
)

// The mission page "Import execution log" (internal/execlog): upload →
// preview → apply → summary. The preview's form carries the upload back
// sealed (execlog.Sealer): nothing is kept between the steps, nothing is
// uploaded twice, and Apply applies exactly the log previewed.

// execLogBodyLimit bounds both posts: the log, or the sealed one, and a
// few small fields.
const execLogBodyLimit = execlog.SealedMax + 1<<20

func (s *Server) execLogs() *execlog.Service {
	return execlog.NewService(s.Ent, evidence.Deps{Ent: s.Ent, Store: s.evidenceStore(), Decodes: s.Decodes,
		DecodeWait: s.Config.RequestTimeout, Now: s.Now})
}

// renderExecLog renders the page; a refused file (an *app.Invalid) shows
// the upload form again with its message next to the field (422).
func (s *Server) renderExecLog(c echo.Context, a *mission.Access, p execlogviews.Page, err error) error {
	status := http.StatusOK
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		status, p = http.StatusUnprocessableEntity, execlogviews.Page{Errors: components.Errors(invalid.Fields)}
	} else if err != nil {
		return err
	}
	p.MissionID, p.MissionName, p.CanManage = a.Mission.ID.String(), a.Mission.Name, a.CanManage()
	lp := s.layoutProps(c, "execlog.title", "nav.missions")
	lp.Title = a.Mission.Name + " · " + lp.Title
	return s.render(c, status, execlogviews.ImportPage(lp, p), nil)
}

// showExecLog renders the upload form (leads and red members).
func (s *Server) showExecLog(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	return s.renderExecLog(c, a, execlogviews.Page{}, nil)
}

// readExecLogForm streams the multipart body of both posts: the file
// (preview) or the sealed log and the procedures to add as tests
// (apply). The log is bounded by its own limit, every other value like an
// upload's text fields, and all pass the text rule (the file's content is
// Parse's to judge).
func readExecLogForm(c echo.Context) (f execlog.Sealed, add []string, file []byte, err error) {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return f, nil, nil, nil // no file: the workflow says so next to the field
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, add, file, nil
		}
		if err != nil {
			return f, nil, nil, uploadError(err)
		}
		name, limit := part.FormName(), int64(maxUploadTextPart)
		if name == "file" || name == "log" {
			limit = execlog.SealedMax // Parse refuses a file over execlog.MaxBytes
		}
		b, err := io.ReadAll(io.LimitReader(part, limit+1))
		part.Close()
		if err != nil {
			return f, nil, nil, uploadError(err)
		}
		if int64(len(b)) > limit && name != "file" {
			return f, nil, nil, &badTextError{http.StatusUnprocessableEntity, name, &textrule.TooLongError{Max: int(limit)}}
		}
		values := []string{name, part.FileName()}
		if name != "file" {
			values = append(values, string(b))
		}
		for _, v := range values {
			if err := textrule.Check(v); err != nil {
				return f, nil, nil, &badTextError{http.StatusUnprocessableEntity, name, err}
			}
		}
		switch v := string(b); name {
		case "file":
			if part.FileName() != "" && file == nil {
				f.Name, file = filepath.Base(strings.ReplaceAll(part.FileName(), `\`, "/")), b
			}
		case "log":
			f.Content = v
		case "name":
			f.Name = v
		case "at":
			f.At = v
		case "mac":
			f.MAC = v
		case "add":
			add = append(add, v)
		}
	}
}

// previewExecLog reads the uploaded log and shows what applying it would
// change (execlog.Service.Preview); it changes nothing.
func (s *Server) previewExecLog(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	f, _, file, err := readExecLogForm(c)
	if err != nil {
		return err
	}
	var r io.Reader
	if file != nil {
		r = strings.NewReader(string(file))
	}
	log, err := execlog.Parse(f.Name, r)
	if err != nil {
		return s.renderExecLog(c, a, execlogviews.Page{}, err)
	}
	pl, err := s.execLogs().Preview(c.Request().Context(), a.Mission.ID, log)
	sealed := execlog.NewSealer(s.Config.SessionKey).Seal(a.Mission.ID, f.Name, file, s.Now())
	return s.renderExecLog(c, a, execlogviews.Page{Preview: execlog.PreviewView(pl, sealed)}, err)
}

// applyExecLog applies the previewed log (execlog.Service.Apply) and
// shows what it did; a log whose seal does not hold (changed, another
// mission's, too old) is refused next to the file field.
func (s *Server) applyExecLog(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	f, add, _, err := readExecLogForm(c)
	if err != nil {
		return err
	}
	log, err := execlog.NewSealer(s.Config.SessionKey).Open(a.Mission.ID, f, s.Now())
	if err != nil {
		return s.renderExecLog(c, a, execlogviews.Page{}, err)
	}
	res, err := s.execLogs().Apply(c.Request().Context(), a.Mission.ID, log, add)
	return s.renderExecLog(c, a, execlogviews.Page{Summary: execlog.SummaryView(res)}, err)
}
