-- Modify "detection_levels" table
ALTER TABLE "detection_levels" ADD COLUMN "retired" boolean NOT NULL DEFAULT false;
-- Modify "mission_test_mitre_tags" table
ALTER TABLE "mission_test_mitre_tags" ADD COLUMN "tactics" jsonb NULL DEFAULT '[]';
-- Modify "mission_tests" table
ALTER TABLE "mission_tests" ADD COLUMN "state_reason" text NOT NULL DEFAULT '';
-- Modify "missions" table
ALTER TABLE "missions" ADD CONSTRAINT "ck_missions_version" CHECK (version >= 1), ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
