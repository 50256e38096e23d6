-- Modify "invitations" table
ALTER TABLE "invitations" ADD COLUMN "reset_user_id" uuid NULL, ADD CONSTRAINT "fk_invitations_reset_user_id" FOREIGN KEY ("reset_user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
