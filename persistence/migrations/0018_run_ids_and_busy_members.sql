-- Gridflow schema, version 18: run ids ordered by time (UUID version 7, RFC 9562), and which
-- replicas are applying calls.
--
-- Run ids were random (version 4): every new run, its tasks and its history went to random
-- leaf pages of runs_pkey, tasks_by_run and the events key, so once those indexes outgrew
-- PostgreSQL's cache (a million runs), each transition read pages back from the OS. A version 7
-- id begins with the Unix time in milliseconds: new rows land at the right edge of those
-- indexes, whose hot pages stay cached however much history lies behind them. The remaining 74
-- bits are random, so ids stay unguessable and unique across replicas; ids already issued stay as
-- they are. Engines of version 17 keep inserting random ids beside these (a rolling upgrade).

-- A version 7 UUID for the instant `at`: 48 bits of milliseconds since the epoch, then the
-- version (7) and variant bits over gen_random_uuid()'s random bits.
CREATE FUNCTION gf_uuid_v7(at timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- Whether the replica applied group-committed calls between its last two heartbeats: the replicas
-- that are busy share the transactions in flight (--cluster-commit-threads, docs/operations.md);
-- an idle one does not hold a share. Replicas of version 17 leave it false.
ALTER TABLE members ADD COLUMN busy boolean NOT NULL DEFAULT false;
