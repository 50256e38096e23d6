// Package ent holds Violet's generated data-access code. Only schema/ and
// this file are written by hand; everything else is produced by
// `go generate ./ent` and committed (DESIGN.md §2 rule 7).
package ent

//go:generate go tool ent generate --feature intercept,privacy,sql/versioned-migration,sql/execquery,sql/upsert,sql/lock ./schema
