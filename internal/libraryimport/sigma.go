package libraryimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/job"
	"violet/internal/library"
	"violet/internal/sigma"
)

// The Sigma import: folders (SigmaHQ's layout, rules*/**/*.yml), rule
// files and archives of them, read into the detection rule catalogue
// (internal/sigma) as an import job of kind "sigma", the same from the
// web and from `violet sigma import`.

// SigmaForm is the Sigma import form once read: the files uploaded.
type SigmaForm struct {
	Files []File
	// Refused: a file was given that an import does not read (by its
	// extension).
	Refused bool
}

// StartSigma checks the form (its errors as *app.Invalid, keyed like the
// form's fields) and starts the import of its files in the background
// (Job.Start); done (may be nil) is told how it ended.
func (s *Service) StartSigma(ctx context.Context, f SigmaForm, done func(ok bool, took time.Duration)) (*ent.ImportJob, error) {
	invalid := &app.Invalid{}
	switch {
	case f.Refused:
		invalid.Add("sigma_files", "sigma.import.files_type")
	case len(f.Files) == 0:
		invalid.Add("sigma_files", "sigma.import.files_missing")
	}
	if err := invalid.Err(); err != nil {
		return nil, err
	}
	names := make([]string, len(f.Files))
	for i, file := range f.Files {
		names[i] = file.Name
	}
	imp := &Job{Jobs: s.jobs, Actor: auth.FromContext(ctx), Source: strings.Join(names, ", "), Files: f.Files, Sigma: true}
	return imp.Start(ctx, done)
}

// runSigma imports the Sigma rules of the job's files and finishes the
// job: failed with the reason when an archive is refused, no rule file was
// found or none could be imported (nothing is imported then), else
// succeeded with the rules written, the summary and the audit event in
// one transaction.
func (j *Job) runSigma(ctx context.Context, h *job.Job, row *ent.ImportJob) (Summary, error) {
	var out Summary
	files, err := readSigmaFiles(j.Files)
	if err != nil {
		return out, h.Fail(ctx, failure(err.Error()), nil)
	}
	if len(files) == 0 {
		return out, h.Fail(ctx, failure("no Sigma rule found: give rule files (.yml), a folder of them (SigmaHQ's rules/…) or a .zip or .tar.gz archive of one"), nil)
	}
	batch, sum := sigma.Read(files, progress(h))
	count := func() {
		out.Summary = library.Summary{Files: sum.Files, Added: sum.Added, Updated: sum.Updated, Unchanged: sum.Unchanged,
			Kept: sum.Kept, Failed: sum.Failed}
		out.Failures = nil
		for _, f := range sum.Failures {
			out.Failures = append(out.Failures, library.Failure{File: f.File, Reason: f.Reason})
		}
	}
	count()
	if batch.Empty() {
		return out, h.Fail(ctx, failure(fmt.Sprintf("no rule could be imported (%d refused)", out.Failed)), out.write(row.ID))
	}
	// The rules are written in the transaction that records the job's end
	// and its audit event: both or neither.
	write := func(ctx context.Context, tx *ent.Tx) error {
		if err := batch.Write(ctx, tx, &sum); err != nil {
			return err
		}
		count()
		return nil
	}
	return j.succeed(ctx, h, row, &out, write, func() map[string]any {
		return map[string]any{"kind": "sigma", "files": out.Files, "added": out.Added, "updated": out.Updated,
			"unchanged": out.Unchanged, "kept": out.Kept, "failed": out.Failed}
	})
}

// ruleFile reports whether a file name is a Sigma rule's (by extension).
func ruleFile(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml")
}

// readSigmaFiles reads the rule files out of the folders, archives and
// files given. A refused archive refuses the whole import. A folder or
// archive in SigmaHQ's layout keeps only what is under its rules folders
// (rules/, rules-emerging-threats/…): the repository's other YAML files
// (workflows, tests, configuration) are not rules.
func readSigmaFiles(files []File) ([]sigma.File, error) {
	var out []sigma.File
	for _, f := range files {
		var (
			got []library.Source
			err error
		)
		switch {
		case f.Dir:
			got, err = library.ReadDirMatching(f.Path, ruleFile)
		case format(f.Name) == "zip":
			got, err = readArchive(f.Path, func(r *os.File, size int64) ([]library.Source, error) {
				return library.ReadZipMatching(r, size, ruleFile)
			})
		case format(f.Name) == "tgz":
			got, err = readArchive(f.Path, func(r *os.File, _ int64) ([]library.Source, error) {
				return library.ReadTarGzMatching(r, ruleFile)
			})
		case format(f.Name) == "yaml":
			var data []byte
			data, err = readRuleFile(f.Path)
			got = []library.Source{{Name: f.Name, Data: data}}
		default:
			err = errors.New("not a folder, a .yml rule file or a .zip or .tar.gz archive")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if f.Dir || format(f.Name) != "yaml" {
			got = sigmaLayout(got)
		}
		for _, s := range got {
			out = append(out, sigma.File{Name: s.Name, Data: s.Data})
		}
	}
	return out, nil
}

// sigmaLayout keeps the files under a rules* folder when there are any.
func sigmaLayout(sources []library.Source) []library.Source {
	under := func(name string) bool {
		for _, seg := range strings.Split(path.Dir(name), "/") {
			if seg == "rules" || strings.HasPrefix(seg, "rules-") {
				return true
			}
		}
		return false
	}
	var kept []library.Source
	for _, s := range sources {
		if under(s.Name) {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return sources
	}
	return kept
}

func readArchive(p string, read func(f *os.File, size int64) ([]library.Source, error)) ([]library.Source, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return read(f, fi.Size())
}

// readRuleFile reads a rule file up to one byte over the limit, so that a
// file too large is refused as such by the parser.
func readRuleFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, sigma.MaxFileSize+1))
}
