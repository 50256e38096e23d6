# Atlas CLI configuration, for people who have the Atlas CLI. Violet does not
# need it: `violet migrate diff|apply|status|validate|hash` does the same work
# through the Atlas library, on the same files and the same revision table
# (atlas_schema_revisions), so the CLI can take over at any time.
#
#   atlas migrate diff NAME --env local     # like make migrate-diff NAME=…
#   atlas migrate apply --env local         # like violet migrate apply
#
# The desired state is the ent schema; the dev database must be empty and is
# wiped by every diff (scripts/devdb fresh-dev prints one).

env "local" {
  src = "ent://ent/schema"
  url = getenv("DATABASE_URL")
  dev = getenv("DEV_DATABASE_URL")
  migration {
    dir              = "file://migrations"
    revisions_schema = "atlas_schema_revisions"
  }
}

env "ci" {
  src = "ent://ent/schema"
  url = getenv("TEST_DATABASE_URL")
  dev = getenv("DEV_DATABASE_URL")
  migration {
    dir              = "file://migrations"
    revisions_schema = "atlas_schema_revisions"
  }
}
