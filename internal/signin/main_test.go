package signin_test

import (
	"testing"

	"violet/internal/testkit/testdb"
)

// TestMain runs the package's tests against a throwaway PostgreSQL
// cluster (one database per test).
func TestMain(m *testing.M) { testdb.Main(m) }
