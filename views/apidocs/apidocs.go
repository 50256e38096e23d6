// Package apidocs renders the JSON API's document for people at /api/docs:
// every operation with its scope, parameters, body and answers, and every
// schema, from the same document the API is generated from. No script and
// no CDN: a page of the application like any other.
package apidocs

// Doc is the document as the page shows it.
type Doc struct {
	Title, Version, Description string
	DocumentURL                 string
	Groups                      []Group
	Schemas                     []Schema
}

// Group is the operations of one tag.
type Group struct {
	Tag string
	Ops []Op
}

// Op is one operation.
type Op struct {
	Method, Path, ID, Summary, Description string
	Scope                                  string
	Params                                 []Field
	Body                                   string // content type and schema, "" without a body
	Responses                              []Response
}

// Field is a parameter or a schema's property.
type Field struct {
	Name, In, Type, Description string
	Required                    bool
}

// Response is one answer of an operation.
type Response struct {
	Status, Description, Body string
}

// Schema is one named schema with its properties.
type Schema struct {
	Name, Type, Description string
	Fields                  []Field
}
