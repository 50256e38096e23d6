package api

// The document comes first: openapi.yaml is written by hand, and the server
// interfaces, the request and response types and the embedded copy served
// at /api/v1/openapi.json are generated from it, so code and document
// cannot drift (make check-generated runs this too).
//go:generate go tool oapi-codegen -config oapi.yaml openapi.yaml
