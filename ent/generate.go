// Package ent holds Violet's generated data-access code. Only schema/ and this
// file are written by hand; everything else is produced by `go generate ./ent`
// and committed; `make check-generated` fails when regenerating would change
// it (docs/ARCHITECTURE.md, "A migration").
package ent

//go:generate go tool ent generate --feature intercept,privacy,sql/versioned-migration,sql/execquery,sql/upsert,sql/lock ./schema
