-- Modify "notifications" table
ALTER TABLE "notifications" ADD COLUMN "title_key" character varying NOT NULL DEFAULT '', ADD COLUMN "title_args" jsonb NULL;
-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "time_zone" character varying NOT NULL DEFAULT '';
-- Modify "mission_tests" table
ALTER TABLE "mission_tests" ADD COLUMN "assignee_id" uuid NULL, ADD CONSTRAINT "fk_mission_tests_assignee_id" FOREIGN KEY ("assignee_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Create index "ix_mission_tests_assignee_id" to table: "mission_tests"
CREATE INDEX "ix_mission_tests_assignee_id" ON "mission_tests" ("assignee_id");
