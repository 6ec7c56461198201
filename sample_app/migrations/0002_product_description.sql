-- Additive only: releases on schema 1 keep working against a schema 2 database, which is what
-- lets an application rollback leave the database alone.

ALTER TABLE products ADD COLUMN description text NOT NULL DEFAULT '';
