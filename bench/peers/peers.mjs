#!/usr/bin/env node
// Peer PostgreSQL job queues on the same machine and PostgreSQL as gridflow-bench, measured the
// same way where the models allow (bench/run.sh --peers runs this; benchmark only):
//   drain    --jobs no-op jobs inserted up front, then workers with --concurrency handlers drain
//            them: jobs/s from the start of the workers until the last job ran — after one such
//            drain not measured, and an ANALYZE once the measured drain's jobs are in place, as
//            gridflow-bench's figures follow a warm-up and an ANALYZE (bench/run.sh). Analysed
//            empty (after the warm-up drain), graphile-worker's queue is planned as empty and
//            drains at a third of its speed (docs/benchmarks.md, 2026-12-07 01:20);
//   latency  jobs added at a steady --rate for --seconds; the time from the add call until the
//            handler runs: p50, p99, max.
// Each queue runs in its own database (URLs from --graphile and --pgboss). Prints one line per
// measure: "name<TAB>value<TAB>unit". Exits 1 when a job is missing.
import { Logger, run, makeWorkerUtils } from "graphile-worker";
import { PgBoss } from "pg-boss";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []));
const JOBS = Number(args.jobs ?? 9000);
const RATE = Number(args.rate ?? 200);
const SECONDS = Number(args.seconds ?? 20);
const CONCURRENCY = Number(args.concurrency ?? 32);

const print = (name, value, unit) => console.log(`${name}\t${value.toFixed(2)}\t${unit}`);
const now = () => performance.timeOrigin + performance.now();  // sub-millisecond, one process
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

function latencyReport(name, latencies, expected) {
  if (latencies.length !== expected) {
    throw new Error(`${name}: ${latencies.length} of ${expected} jobs ran`);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  print(`${name}_latency_p50_ms[${RATE}/s]`, percentile(sorted, 0.5), "ms");
  print(`${name}_latency_p99_ms[${RATE}/s]`, percentile(sorted, 0.99), "ms");
  print(`${name}_latency_max_ms[${RATE}/s]`, sorted[sorted.length - 1], "ms");
}

// Adds `total` jobs at RATE per second, open loop (an add never waits for the previous one).
async function addAtRate(total, add) {
  const begin = performance.now();
  const pending = [];
  for (let n = 0; n < total; n++) {
    const due = begin + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(add(n));
  }
  await Promise.all(pending);
}

async function waitFor(condition, timeoutMs) {
  const giveUp = performance.now() + timeoutMs;
  while (!condition() && performance.now() < giveUp) await sleep(5);
  return condition();
}

async function graphileWorker(url) {
  const utils = await makeWorkerUtils({ connectionString: url, logger: new Logger(() => () => {}) });
  await utils.migrate();
  let done = 0;
  const latencies = [];
  // Drains a pre-filled queue with a runner started afterwards; returns the runner and jobs/s.
  const drain = async ({ analyze }) => {
    await utils.withPgClient((client) =>
      client.query(
        "SELECT graphile_worker.add_job('noop', json_build_object('i', g)) FROM generate_series(1, $1) g",
        [JOBS]));
    if (analyze) await utils.withPgClient((client) => client.query("ANALYZE"));
    done = 0;
    const begin = performance.now();
    const runner = await run({
      connectionString: url, concurrency: CONCURRENCY, noHandleSignals: true, pollInterval: 1000,
      logger: new Logger(() => () => {}),  // stdout carries the results only
      taskList: {
        noop: async (payload) => {
          done++;
          if (payload.t !== undefined) latencies.push(now() - payload.t);
        },
      },
    });
    if (!(await waitFor(() => done >= JOBS, 300_000))) throw new Error(`graphile-worker: ${done} of ${JOBS} jobs ran`);
    return { runner, jobsPerSecond: JOBS / ((performance.now() - begin) / 1000) };
  };
  await (await drain({ analyze: false })).runner.stop();  // warm-up, not measured
  const { runner, jobsPerSecond } = await drain({ analyze: true });
  print(`graphile_worker_drain_jobs_per_s[${JOBS}]`, jobsPerSecond, "jobs/s");
  // Latency at a steady rate.
  const total = Math.round(RATE * SECONDS);
  done = 0;
  await addAtRate(total, (n) => utils.addJob("noop", { n, t: now() }));
  await waitFor(() => done >= total, 60_000);
  latencyReport("graphile_worker", latencies, total);
  await runner.stop();
  await utils.release();
}

async function pgBoss(url) {
  // LISTEN/NOTIFY on (workers are woken when a job is created), polling at the shortest interval
  // it allows as the backstop; a full batch makes the worker fetch again at once.
  const boss = new PgBoss({ connectionString: url, max: 10, useListenNotify: true });
  boss.on("error", (e) => console.error("pg-boss:", e.message));
  await boss.start();
  const queue = "noop";
  await boss.createQueue(queue, { notify: true });
  let done = 0;
  const latencies = [];
  // Drains a pre-filled queue with workers started afterwards; returns jobs/s.
  const drain = async ({ analyze }) => {
    for (let inserted = 0; inserted < JOBS; inserted += 1000) {
      const batch = Array.from({ length: Math.min(1000, JOBS - inserted) }, (_, i) => ({
        data: { i: inserted + i } }));
      await boss.insert(queue, batch);
    }
    if (analyze) await boss.getDb().executeSql("ANALYZE");
    done = 0;
    const begin = performance.now();
    const workers = 4;
    await boss.work(queue, {
      localConcurrency: workers, batchSize: Math.max(1, Math.floor(CONCURRENCY / workers)),
      pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5, burstWhenBatchFull: true,
    }, async (jobs) => {
      for (const job of jobs) {
        done++;
        if (job.data.t !== undefined) latencies.push(now() - job.data.t);
      }
    });
    if (!(await waitFor(() => done >= JOBS, 300_000))) throw new Error(`pg-boss: ${done} of ${JOBS} jobs ran`);
    return JOBS / ((performance.now() - begin) / 1000);
  };
  await drain({ analyze: false });  // warm-up, not measured
  await boss.offWork(queue);
  print(`pg_boss_drain_jobs_per_s[${JOBS}]`, await drain({ analyze: true }), "jobs/s");
  const total = Math.round(RATE * SECONDS);
  done = 0;
  await addAtRate(total, (n) => boss.send(queue, { n, t: now() }));
  await waitFor(() => done >= total, 60_000);
  latencyReport("pg_boss", latencies, total);
  await boss.stop({ graceful: true, timeout: 5000 });
}

try {
  if (args.graphile) await graphileWorker(args.graphile);
  if (args.pgboss) await pgBoss(args.pgboss);
  process.exit(0);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
