package api

import (
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"violet/views/apidocs"
)

// Docs shapes the document for the /api/docs page.
func (s *Spec) Docs() apidocs.Doc {
	d := apidocs.Doc{Title: s.Doc.Info.Title, Version: s.Doc.Info.Version, Description: s.Doc.Info.Description,
		DocumentURL: Base + "/openapi.json"}
	byTag := map[string]*apidocs.Group{}
	var tags []string
	for _, t := range s.Doc.Tags {
		tags = append(tags, t.Name)
		byTag[t.Name] = &apidocs.Group{Tag: t.Name}
	}
	for _, o := range s.Operations() {
		op := o.route.Operation
		tag := "other"
		if len(op.Tags) > 0 {
			tag = op.Tags[0]
		}
		g, ok := byTag[tag]
		if !ok {
			g = &apidocs.Group{Tag: tag}
			byTag[tag], tags = g, append(tags, tag)
		}
		g.Ops = append(g.Ops, opDoc(o))
	}
	for _, t := range tags {
		if g := byTag[t]; len(g.Ops) > 0 {
			d.Groups = append(d.Groups, *g)
		}
	}
	names := make([]string, 0, len(s.Doc.Components.Schemas))
	for n := range s.Doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sc := s.Doc.Components.Schemas[n].Value
		d.Schemas = append(d.Schemas, apidocs.Schema{Name: n, Type: typeOf(s.Doc.Components.Schemas[n]),
			Description: sc.Description, Fields: props(sc)})
	}
	return d
}

func opDoc(o *Operation) apidocs.Op {
	op := o.route.Operation
	out := apidocs.Op{Method: o.Method, Path: Base + o.route.Path, ID: o.ID,
		Summary: op.Summary, Description: op.Description, Scope: strings.Join(o.Scopes, ",")}
	params := append(openapi3.Parameters{}, o.route.PathItem.Parameters...)
	params = append(params, op.Parameters...)
	for _, p := range params {
		if p.Value == nil {
			continue
		}
		out.Params = append(out.Params, apidocs.Field{Name: p.Value.Name, In: p.Value.In, Required: p.Value.Required,
			Type: typeOf(p.Value.Schema), Description: p.Value.Description})
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		for ct, mt := range rb.Value.Content {
			out.Body = ct + " " + typeOf(mt.Schema)
		}
	}
	codes := make([]string, 0, op.Responses.Len())
	for code := range op.Responses.Map() {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		r := op.Responses.Value(code)
		if r == nil || r.Value == nil {
			continue
		}
		resp := apidocs.Response{Status: code}
		if r.Value.Description != nil {
			resp.Description = *r.Value.Description
		}
		for ct, mt := range r.Value.Content {
			resp.Body = ct + " " + typeOf(mt.Schema)
		}
		out.Responses = append(out.Responses, resp)
	}
	return out
}

// typeOf names a schema: its component's name, or its type (arrays with
// their items').
func typeOf(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	v := ref.Value
	if v == nil || v.Type == nil {
		return ""
	}
	t := strings.Join(v.Type.Slice(), "|")
	switch {
	case v.Type.Is("array"):
		return "[]" + typeOf(v.Items)
	case len(v.Enum) > 0:
		vals := make([]string, len(v.Enum))
		for i, e := range v.Enum {
			vals[i], _ = e.(string)
		}
		return t + " (" + strings.Join(vals, ", ") + ")"
	case v.Format != "":
		return t + " (" + v.Format + ")"
	}
	return t
}

func props(sc *openapi3.Schema) []apidocs.Field {
	names := make([]string, 0, len(sc.Properties))
	for n := range sc.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]apidocs.Field, 0, len(names))
	for _, n := range names {
		p := sc.Properties[n]
		desc := ""
		if p.Value != nil {
			desc = p.Value.Description
		}
		out = append(out, apidocs.Field{Name: n, Type: typeOf(p), Description: desc,
			Required: slices.Contains(sc.Required, n)})
	}
	return out
}
