-- Gridflow schema, version 12: search attributes (docs/search.md). Typed business fields a
-- definition declares (market, delivery day, portfolio, volume), set from the run's data and
-- searchable with `ListRuns.query`.

-- The type of each attribute name in a namespace: fixed by the first definition that declares it,
-- so that one name never means two things in one namespace's queries.
CREATE TABLE search_attribute_types (
  namespace   text NOT NULL REFERENCES namespaces (name),
  name        text NOT NULL,
  type        text NOT NULL CHECK (type IN ('keyword', 'number', 'date', 'datetime', 'bool')),
  declared_by text NOT NULL,  -- '<definition> v<version>' that declared it first
  created_at  timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, name)
);

-- A run's current values, as shown (GetRun, ListRuns): {"market": "DE-LU", ...}. Written with the
-- run row; an added column with a constant default costs no table rewrite.
ALTER TABLE runs ADD COLUMN search_attributes jsonb NOT NULL DEFAULT '{}';

-- The same values, one row each, typed and indexed for queries. Written only when a value
-- changes, so runs of definitions without attributes never touch this table.
CREATE TABLE run_attributes (
  run_id    uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name      text NOT NULL,
  namespace text NOT NULL,
  keyword   text,
  number    double precision,
  instant   timestamptz,
  day       date,
  flag      boolean,
  PRIMARY KEY (run_id, name),
  -- exactly one value column is set
  CHECK (num_nonnulls(keyword, number, instant, day, flag) = 1)
);
CREATE INDEX run_attributes_keyword ON run_attributes (namespace, name, keyword, run_id)
  WHERE keyword IS NOT NULL;
CREATE INDEX run_attributes_number ON run_attributes (namespace, name, number, run_id)
  WHERE number IS NOT NULL;
CREATE INDEX run_attributes_instant ON run_attributes (namespace, name, instant, run_id)
  WHERE instant IS NOT NULL;
CREATE INDEX run_attributes_day ON run_attributes (namespace, name, day, run_id)
  WHERE day IS NOT NULL;
CREATE INDEX run_attributes_flag ON run_attributes (namespace, name, flag, run_id)
  WHERE flag IS NOT NULL;
