-- Gridflow schema, version 14: canary rollouts of definition versions (docs/rollouts.md). Starts
-- that ask for the latest version are routed by gf_route_version: during a rollout a fixed share
-- of workflow ids goes to the candidate version, the rest to the stable one; each run records
-- which version it got and why.

-- A version registered as a candidate is not "latest" until a rollout promotes it; a version
-- rolled back is withheld again. Runs may still ask for it by number.
ALTER TABLE definitions ADD COLUMN withheld boolean NOT NULL DEFAULT false;

-- Why a run got its definition version: 'requested', 'latest', or the rollout's routing.
ALTER TABLE runs ADD COLUMN version_reason text;

CREATE TABLE definition_rollouts (
  namespace              text NOT NULL REFERENCES namespaces (name),
  name                   text NOT NULL,
  id                     bigint GENERATED ALWAYS AS IDENTITY,
  stable_version         integer NOT NULL,
  candidate_version      integer NOT NULL CHECK (candidate_version <> stable_version),
  percent                integer NOT NULL CHECK (percent BETWEEN 1 AND 100),
  -- Rolled back automatically when, over the last window_seconds, at least min_runs candidate
  -- runs closed and the candidate's failure rate exceeds the stable one's by more than
  -- max_failure_increase (a fraction: 0.05 is five percentage points).
  window_seconds         integer NOT NULL CHECK (window_seconds > 0),
  max_failure_increase   double precision NOT NULL CHECK (max_failure_increase BETWEEN 0 AND 1),
  min_runs               integer NOT NULL CHECK (min_runs >= 0),
  -- Promoted automatically this long after the start when not rolled back by then (and at least
  -- min_runs candidate runs closed); NULL: promoted by hand only.
  auto_promote_seconds   integer CHECK (auto_promote_seconds > 0),
  state                  text NOT NULL CHECK (state IN ('RUNNING', 'PROMOTED', 'ROLLED_BACK')),
  started_by             text NOT NULL,
  started_at             timestamptz NOT NULL DEFAULT gf_now(),
  ended_by               text,
  ended_at               timestamptz,
  end_reason             text NOT NULL DEFAULT '',
  -- The last evaluation: closed runs and failures of each version within the window.
  evaluated_at           timestamptz,
  candidate_closed       bigint NOT NULL DEFAULT 0,
  candidate_failed       bigint NOT NULL DEFAULT 0,
  stable_closed          bigint NOT NULL DEFAULT 0,
  stable_failed          bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, name, id),
  FOREIGN KEY (namespace, name, stable_version) REFERENCES definitions (namespace, name, version),
  FOREIGN KEY (namespace, name, candidate_version) REFERENCES definitions (namespace, name, version)
);
-- At most one rollout of a definition at a time.
CREATE UNIQUE INDEX definition_rollouts_running ON definition_rollouts (namespace, name)
  WHERE state = 'RUNNING';

-- The version a start that asks for the latest gets, and why. During a rollout the workflow id
-- decides, the same way every time: its bucket is the first 7 hex digits of md5(workflow id) as
-- a number, modulo 100; buckets below the percentage go to the candidate. Without a rollout: the
-- highest version not withheld. A NULL workflow id (GetDefinition) gets the stable version.
CREATE FUNCTION gf_route_version(p_namespace text, p_name text, p_workflow_id text)
RETURNS TABLE (version integer, reason text)
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN r.id IS NULL THEN l.version
              WHEN r.canary THEN r.candidate_version
              ELSE r.stable_version END,
         CASE WHEN r.id IS NULL THEN 'latest'
              ELSE format('%s: rollout %s sends %s%% of latest to version %s',
                          CASE WHEN r.canary THEN 'canary' ELSE 'stable' END, r.id, r.percent,
                          r.candidate_version) END
  FROM (SELECT max(d.version) AS version FROM definitions d
         WHERE d.namespace = p_namespace AND d.name = p_name AND NOT d.withheld) l
  LEFT JOIN (SELECT o.id, o.percent, o.candidate_version, o.stable_version,
                    p_workflow_id IS NOT NULL AND
                    ('x' || substr(md5(p_workflow_id), 1, 7))::bit(28)::integer % 100 < o.percent
                      AS canary
               FROM definition_rollouts o
              WHERE o.namespace = p_namespace AND o.name = p_name AND o.state = 'RUNNING') r
    ON true
$$;
