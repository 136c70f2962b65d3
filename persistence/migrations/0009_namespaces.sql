-- Gridflow schema, version 9: namespaces as managed objects (NamespaceService, docs/security.md).
-- New columns have constant defaults or none: adding them rewrites nothing.
ALTER TABLE namespaces ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE namespaces ADD COLUMN closed_run_retention interval;
ALTER TABLE namespaces ADD COLUMN time_zone text NOT NULL DEFAULT '';
ALTER TABLE namespaces ADD COLUMN deprecated_at timestamptz;
ALTER TABLE namespaces ADD COLUMN deprecated_reason text;
ALTER TABLE namespaces ADD COLUMN created_by text NOT NULL DEFAULT 'schema';
ALTER TABLE namespaces ADD COLUMN updated_by text;
ALTER TABLE namespaces ADD COLUMN updated_at timestamptz;
