package migration_test

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestAtlasHCL keeps atlas.hcl, which only the Atlas CLI reads, from rotting:
// it must parse and point both environments at the ent schema, the
// migrations directory and the revision schema Violet writes.
func TestAtlasHCL(t *testing.T) {
	src, err := os.ReadFile("../../atlas.hcl")
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, "atlas.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("atlas.hcl does not parse: %s", diags.Error())
	}
	body := file.Body.(*hclsyntax.Body)
	envs := map[string]*hclsyntax.Body{}
	for _, b := range body.Blocks {
		if b.Type == "env" && len(b.Labels) == 1 {
			envs[b.Labels[0]] = b.Body
		}
	}
	// literal returns the source text of an attribute's expression.
	literal := func(b *hclsyntax.Body, name string) string {
		a, ok := b.Attributes[name]
		if !ok {
			return ""
		}
		r := a.Expr.Range()
		return strings.Trim(string(src[r.Start.Byte:r.End.Byte]), `"`)
	}
	for _, name := range []string{"local", "ci"} {
		t.Run(name, func(t *testing.T) {
			env, ok := envs[name]
			if !ok {
				t.Fatalf("env %q missing", name)
			}
			if got := literal(env, "src"); got != "ent://ent/schema" {
				t.Errorf("src = %q, want ent://ent/schema", got)
			}
			for _, attr := range []string{"url", "dev"} {
				if literal(env, attr) == "" {
					t.Errorf("attribute %s missing", attr)
				}
			}
			var mig *hclsyntax.Body
			for _, b := range env.Blocks {
				if b.Type == "migration" {
					mig = b.Body
				}
			}
			if mig == nil {
				t.Fatal("migration block missing")
			}
			if got := literal(mig, "dir"); got != "file://migrations" {
				t.Errorf("migration dir = %q, want file://migrations", got)
			}
			if got := literal(mig, "revisions_schema"); got != "atlas_schema_revisions" {
				t.Errorf("revisions_schema = %q, want atlas_schema_revisions", got)
			}
		})
	}
}
