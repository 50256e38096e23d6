package handlers

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/textrule"
	"violet/views/errorpage"
)

// badTextError is a request value refused by the text rule before any
// handler saw it: a query or path parameter (400) or a form field (422).
// The error page names the parameter; nothing of its value is echoed.
type badTextError struct {
	status int
	field  string
	err    error
}

func (e *badTextError) Error() string { return "parameter " + e.field + " " + e.err.Error() }

// props is the error page's message: which parameter, and what is wrong.
func (e *badTextError) props(p *errorpage.Props) {
	reason := "error.bad_text.invalid_utf8"
	var tooLong *textrule.TooLongError
	switch {
	case errors.Is(e.err, textrule.ErrNUL):
		reason = "error.bad_text.nul"
	case errors.As(e.err, &tooLong):
		reason = "error.bad_text.too_long"
	}
	p.MessageKey = "error.bad_text.message"
	p.MessageArgs = []any{"Field", cutRunes(e.field, 64)}
	p.ReasonKey = reason
}

// checkText is the one rule for text at the edge (internal/textrule): every
// path parameter, query parameter and urlencoded form value — names and
// values — is valid UTF-8 without NUL before a handler runs, so that none
// reaches PostgreSQL (which refuses them with 22021/22P05, a 500) or a
// parser. It runs after the route's access check. Multipart bodies of
// upload routes are not parsed here (their handlers stream the parts and
// check their text fields with textrule themselves). Bodies
// of any other type are refused with 415: only the API's routes take JSON
// (checkJSONText), no route takes XML, and
// echo's binder would otherwise decode them past this check.
func (s *Server) checkText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for i, name := range c.ParamNames() {
			if err := textrule.Check(c.ParamValues()[i]); err != nil {
				return &badTextError{http.StatusBadRequest, name, err}
			}
		}
		if err := checkValues(c.QueryParams(), http.StatusBadRequest); err != nil {
			return err
		}
		req := c.Request()
		if req.Method == http.MethodGet || req.Method == http.MethodHead || req.ContentLength == 0 {
			return next(c)
		}
		ct, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
		switch ct {
		case echo.MIMEApplicationForm:
			if err := req.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return err
				}
				return echo.ErrBadRequest.WithInternal(err)
			}
			if err := checkValues(req.PostForm, http.StatusUnprocessableEntity); err != nil {
				return err
			}
		case echo.MIMEMultipartForm:
			if s.routeOf(c).bodyLimit() > formBodyLimit {
				// An upload route: its handler streams the parts and
				// checks their text itself.
				break
			}
			// A form route sent as multipart (echo's binder accepts it):
			// small by the form body limit, so it is parsed here in memory.
			if err := req.ParseMultipartForm(formBodyLimit); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return err
				}
				return echo.ErrBadRequest.WithInternal(err)
			}
			if err := checkValues(req.MultipartForm.Value, http.StatusUnprocessableEntity); err != nil {
				return err
			}
		case echo.MIMEApplicationJSON:
			if s.routeOf(c).api == nil {
				return echo.ErrUnsupportedMediaType
			}
			if err := checkJSONText(req); err != nil {
				return err
			}
		default:
			return echo.ErrUnsupportedMediaType
		}
		return next(c)
	}
}

// checkValues applies textrule.Check to the names and values of a query or
// a form.
func checkValues(values map[string][]string, status int) error {
	for name, vs := range values {
		if err := textrule.Check(name); err != nil {
			return &badTextError{status, "(name)", err}
		}
		for _, v := range vs {
			if err := textrule.Check(v); err != nil {
				return &badTextError{status, name, err}
			}
		}
	}
	return nil
}

// uploadPart is a part of an upload's multipart body whose names have
// passed the text rule; a text part (no file name) has been read into
// Value, bounded and checked, and its body is spent.
type uploadPart struct {
	*multipart.Part
	Value string
}

// maxUploadTextPart bounds one text field of an upload form: the longest
// is an evidence caption (500 characters, up to 2,000 bytes).
const maxUploadTextPart = 4096

// nextUploadPart is mr.NextPart for the upload routes, whose bodies are
// streamed and so never seen by checkText: it applies the same rule to
// every field name, file name and text value, those the handler ignores
// included, so an upload obeys the same rule as a form (422 naming the
// field, before anything is stored).
func nextUploadPart(mr *multipart.Reader) (*uploadPart, error) {
	part, err := mr.NextPart()
	if err != nil {
		return nil, err
	}
	p := &uploadPart{Part: part}
	name := part.FormName()
	if err := textrule.Check(name); err != nil {
		part.Close()
		return nil, &badTextError{http.StatusUnprocessableEntity, "(name)", err}
	}
	if err := textrule.Check(part.FileName()); err != nil {
		part.Close()
		return nil, &badTextError{http.StatusUnprocessableEntity, name, err}
	}
	if part.FileName() != "" {
		return p, nil
	}
	b, err := io.ReadAll(io.LimitReader(part, maxUploadTextPart+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUploadTextPart {
		return nil, &badTextError{http.StatusUnprocessableEntity, name, &textrule.TooLongError{Max: maxUploadTextPart}}
	}
	if err := textrule.Check(string(b)); err != nil {
		return nil, &badTextError{http.StatusUnprocessableEntity, name, err}
	}
	p.Value = string(b)
	return p, nil
}

// uploadError passes a refusal of nextUploadPart on as it is and wraps a
// failure to read the body.
func uploadError(err error) error {
	var bad *badTextError
	if errors.As(err, &bad) {
		return err
	}
	return fmt.Errorf("read the upload: %w", err)
}
