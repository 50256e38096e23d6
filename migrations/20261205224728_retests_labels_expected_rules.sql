-- Modify "mission_tests" table
ALTER TABLE "mission_tests" ADD COLUMN "expected_rules" jsonb NULL DEFAULT '[]', ADD COLUMN "retest_of_id" uuid NULL, ADD CONSTRAINT "fk_mission_tests_retest_of_id" FOREIGN KEY ("retest_of_id") REFERENCES "mission_tests" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Create index "ix_mission_tests_retest_of_id" to table: "mission_tests"
CREATE INDEX "ix_mission_tests_retest_of_id" ON "mission_tests" ("retest_of_id");
-- Modify "missions" table
ALTER TABLE "missions" ADD COLUMN "labels" jsonb NOT NULL DEFAULT '[]', ADD COLUMN "retest_of_id" uuid NULL, ADD CONSTRAINT "fk_missions_retest_of_id" FOREIGN KEY ("retest_of_id") REFERENCES "missions" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Create index "ix_missions_retest_of_id" to table: "missions"
CREATE INDEX "ix_missions_retest_of_id" ON "missions" ("retest_of_id");
-- Modify "test_templates" table
ALTER TABLE "test_templates" ADD COLUMN "expected_rules" jsonb NULL DEFAULT '[]';
