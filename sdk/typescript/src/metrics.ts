// The worker's metrics, under the C++ SDK's names (docs/worker.md), in Prometheus' text format.
import * as http from "http";

type Labels = Record<string, string>;
const key = (name: string, labels: Labels) =>
  name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

export class Metrics {
  private counters = new Map<string, { name: string; labels: Labels; value: number }>();
  private gauges = new Map<string, number>();
  private sums = new Map<string, { name: string; labels: Labels; count: number; sum: number }>();

  inc(name: string, labels: Labels = {}, by = 1): void {
    const k = key(name, labels);
    const c = this.counters.get(k) ?? { name, labels, value: 0 };
    c.value += by;
    this.counters.set(k, c);
  }

  set(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  observe(name: string, labels: Labels, value: number): void {
    const k = key(name, labels);
    const s = this.sums.get(k) ?? { name, labels, count: 0, sum: 0 };
    s.count += 1;
    s.sum += value;
    this.sums.set(k, s);
  }

  /** A counter's (summed over the labels not given) or gauge's value; 0 when never set. */
  value(name: string, labels: Labels = {}): number {
    if (this.gauges.has(name)) return this.gauges.get(name)!;
    let total = 0;
    for (const c of this.counters.values()) {
      if (c.name === name && Object.entries(labels).every(([k, v]) => c.labels[k] === v)) total += c.value;
    }
    return total;
  }

  text(): string {
    const fmt = (labels: Labels) => {
      const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      return parts.length ? `{${parts.join(",")}}` : "";
    };
    const lines: string[] = [];
    for (const c of this.counters.values()) lines.push(`${c.name}${fmt(c.labels)} ${c.value}`);
    for (const [name, v] of this.gauges) lines.push(`${name} ${v}`);
    for (const s of this.sums.values()) {
      lines.push(`${s.name}_count${fmt(s.labels)} ${s.count}`, `${s.name}_sum${fmt(s.labels)} ${s.sum}`);
    }
    return lines.sort().join("\n") + "\n";
  }

  /** Serves /metrics on host:port. */
  serve(host: string, port: number): http.Server {
    return http.createServer((req, res) => {
      const ok = req.url === "/metrics";
      res.writeHead(ok ? 200 : 404, { "Content-Type": "text/plain; version=0.0.4" });
      res.end(ok ? this.text() : "not found\n");
    }).listen(port, host);
  }
}
