// Package migrations carries Violet's Atlas-format migration files and their
// atlas.sum inside the binary, so `violet migrate apply` needs nothing on
// disk. Files are written by `violet migrate diff` and never edited once
// applied anywhere.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"ariga.io/atlas/sql/migrate"
)

//go:embed *.sql atlas.sum
var files embed.FS

// Dir returns the embedded migration directory as an Atlas directory.
func Dir() (migrate.Dir, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}
