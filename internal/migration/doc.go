// Package migration is the part of the Atlas CLI that Violet needs, built on
// the ariga.io/atlas library because the CLI itself cannot be installed from
// the Go module proxy (docs/ARCHITECTURE.md, "A migration"):
//
//   - Diff (dev time) replays the migration directory on an empty dev
//     database and writes a new Atlas-format file plus atlas.sum for whatever
//     the ent schema adds; with no schema change it writes nothing.
//   - Apply (run time) executes pending files through Atlas's Executor with
//     checksums validated first, a PostgreSQL advisory lock so concurrent
//     instances serialise, and one transaction per file so a failing file
//     leaves neither its changes nor its revision row behind.
//   - Status, Validate and Hash mirror the CLI commands of the same name.
//
// Revisions are kept in atlas_schema_revisions.atlas_schema_revisions with
// the CLI's column layout, so the Atlas CLI can take over a database later.
package migration
