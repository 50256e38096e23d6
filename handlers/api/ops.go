package api

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"violet/internal/auth"
)

// Base is where the API is served.
const Base = "/api/v1"

// Operation is one operation of the document as the route table needs it:
// where it is served (an echo route template under Base), the token scopes
// that may call it, and the document's route, to validate its requests.
type Operation struct {
	Method string
	Path   string // echo template: /api/v1/missions/:missionId
	ID     string // operationId
	// Scopes lists the scopes any one of which admits a token (the
	// operation's x-violet-scope, comma-separated alternatives).
	Scopes []string
	// Permission is what the token's owner must hold (the page's own
	// route permission), checked before the body is read: the operation's
	// x-violet-permission.
	Permission auth.Permission
	// Upload marks a multipart body: it is streamed by the handler and
	// not validated as a whole beforehand.
	Upload bool
	route  *routers.Route
}

// Spec is the parsed document, with its operations by "METHOD template".
type Spec struct {
	Doc *openapi3.T
	ops map[string]*Operation
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// Load parses the embedded document and checks that every operation names
// its scope: an operation without one would be refused to every token, and
// a typo would be a silent hole, so both stop the server from starting.
func Load() (*Spec, error) {
	doc, err := GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("api: load the document: %w", err)
	}
	known := []string{"read", "red", "blue", "library", "admin"}
	s := &Spec{Doc: doc, ops: map[string]*Operation{}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			raw, _ := op.Extensions["x-violet-scope"].(string)
			if raw == "" {
				return nil, fmt.Errorf("api: %s %s names no x-violet-scope", method, path)
			}
			scopes := strings.Split(raw, ",")
			for _, sc := range scopes {
				if !slices.Contains(known, sc) {
					return nil, fmt.Errorf("api: %s %s: unknown scope %q", method, path, sc)
				}
			}
			perm, _ := op.Extensions["x-violet-permission"].(string)
			if !slices.ContainsFunc(auth.Permissions(), func(p auth.PermissionInfo) bool { return string(p.Code) == perm }) {
				return nil, fmt.Errorf("api: %s %s: x-violet-permission %q is no permission", method, path, perm)
			}
			o := &Operation{
				Method: method, Path: Base + pathParam.ReplaceAllString(path, ":$1"), ID: op.OperationID, Scopes: scopes,
				Permission: auth.Permission(perm),
				route:      &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
			}
			if rb := op.RequestBody; rb != nil && rb.Value != nil && rb.Value.Content.Get("multipart/form-data") != nil {
				o.Upload = true
			}
			s.ops[method+" "+o.Path] = o
		}
	}
	return s, nil
}

// Operation returns the operation served at method and echo template.
func (s *Spec) Operation(method, template string) *Operation {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return s.ops[method+" "+template]
}

// Operations lists the operations in path order, for tests and docs.
func (s *Spec) Operations() []*Operation {
	out := make([]*Operation, 0, len(s.ops))
	for _, o := range s.ops {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path+out[i].Method < out[j].Path+out[j].Method
	})
	return out
}

// JSON is the document as served at /api/v1/openapi.json.
func (s *Spec) JSON() ([]byte, error) { return s.Doc.MarshalJSON() }
