"""The worker's metrics, under the C++ SDK's names (docs/worker.md), in Prometheus' text format;
served at http://ADDR/metrics when the worker is given a metrics port."""
import collections
import http.server
import threading


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._counters = collections.defaultdict(float)  # (name, labels) -> value
        self._gauges = {}
        self._sums = collections.defaultdict(lambda: [0, 0.0])  # (name, labels) -> [count, sum]

    def inc(self, name, labels=(), by=1):
        with self._lock:
            self._counters[(name, tuple(labels))] += by

    def set(self, name, value):
        with self._lock:
            self._gauges[name] = value

    def observe(self, name, labels, value):
        with self._lock:
            entry = self._sums[(name, tuple(labels))]
            entry[0] += 1
            entry[1] += value

    def value(self, name, **labels):
        """A counter's or gauge's value (0 when never set), e.g. for tests and health checks."""
        with self._lock:
            if name in self._gauges:
                return self._gauges[name]
            return sum(v for (n, ls), v in self._counters.items()
                       if n == name and all((k, str(w)) in ls for k, w in labels.items()))

    def text(self):
        def fmt(labels):
            return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""
        lines = []
        with self._lock:
            for (name, labels), v in sorted(self._counters.items()):
                lines.append(f"{name}{fmt(labels)} {v:g}")
            for name, v in sorted(self._gauges.items()):
                lines.append(f"{name} {v:g}")
            for (name, labels), (count, total) in sorted(self._sums.items()):
                lines.append(f"{name}_count{fmt(labels)} {count}")
                lines.append(f"{name}_sum{fmt(labels)} {total:g}")
        return "\n".join(lines) + "\n"

    def serve(self, host, port):
        """Serves /metrics on (host, port) from a daemon thread; returns the server."""
        metrics = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = metrics.text().encode() if self.path == "/metrics" else b"not found\n"
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="gridflow-metrics").start()
        return server
