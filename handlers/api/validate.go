package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// BadRequest is a request the document refuses: a 400 (a 428 when only the
// If-Match precondition is missing), with the fields at fault.
type BadRequest struct {
	Status int
	Detail string
	Fields []FieldError
}

func (e *BadRequest) Error() string { return e.Detail }

// Validate checks a request's parameters and, unless it is an upload
// (streamed by its handler), its body against the document, before any
// handler reads it: the handlers then take well-formed input for granted,
// and clients get every broken field named at once. The body is read and
// put back for the generated binder.
func (o *Operation) Validate(ctx context.Context, req *http.Request, params map[string]string) error {
	needsMatch := o.route.Operation.Parameters.GetByInAndName(openapi3.ParameterInHeader, "If-Match") != nil ||
		o.route.PathItem.Parameters.GetByInAndName(openapi3.ParameterInHeader, "If-Match") != nil
	if needsMatch && req.Header.Get("If-Match") == "" {
		return &BadRequest{Status: http.StatusPreconditionRequired,
			Detail: "this write needs If-Match with the test's ETag, as a GET of the test returns it",
			Fields: []FieldError{{Field: "If-Match", Message: "required"}}}
	}
	if o.Upload {
		if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "multipart/form-data" {
			return &BadRequest{Status: http.StatusUnsupportedMediaType, Detail: "send the files as multipart/form-data, one `file` part each"}
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: o.route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			ExcludeRequestBody: o.Upload,
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // the bearer middleware ran already
		},
	}
	err := openapi3filter.ValidateRequest(ctx, in)
	if err == nil {
		return nil
	}
	bad := &BadRequest{Status: http.StatusBadRequest, Detail: "the request does not match the API document"}
	collect(err, bad)
	return bad
}

// collect turns kin-openapi's errors into field errors.
func collect(err error, bad *BadRequest) {
	var multi openapi3.MultiError
	if errors.As(err, &multi) {
		for _, e := range multi {
			collect(e, bad)
		}
		return
	}
	var (
		reqErr    *openapi3filter.RequestError
		schemaErr *openapi3.SchemaError
	)
	field := "body"
	if errors.As(err, &reqErr) && reqErr.Parameter != nil {
		field = reqErr.Parameter.Name
	}
	if errors.As(err, &schemaErr) {
		if p := schemaErr.JSONPointer(); len(p) > 0 {
			field = strings.Join(p, ".")
		}
		bad.Fields = append(bad.Fields, FieldError{Field: field, Message: schemaErr.Reason})
		return
	}
	if reqErr != nil {
		msg := reqErr.Reason
		if msg == "" && reqErr.Err != nil {
			msg = reqErr.Err.Error()
		}
		bad.Fields = append(bad.Fields, FieldError{Field: field, Message: msg})
		return
	}
	bad.Fields = append(bad.Fields, FieldError{Field: field, Message: err.Error()})
}
