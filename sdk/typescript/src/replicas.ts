// The engine replicas a gRPC target names, one single-address target per replica, so a worker can
// hold a long-poll on each of them (docs/sdk-typescript.md; the C++ SDK's
// worker/replica_targets.h does the same):
//
//   "ipv4:10.0.0.1:7233,10.0.0.2:7233"  -> "ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7233"
//   "dns:///engine.ns.svc:7233", "engine.ns.svc:7233"
//                                       -> every address the name resolves to now (the IPv4 ones
//                                          when there are any, else IPv6; "localhost" is one)
//   anything else ("unix:/run/gf.sock", a name that does not resolve) -> the target itself
//
// A name is resolved when called: callers call again to follow replicas that come and go.
import { promises as dns } from "dns";

export interface ReplicaTargets {
  /** Never empty. */
  targets: string[];
  /** The name the targets were resolved from ("" otherwise): what TLS checks a replica dialled by address against. */
  host: string;
}

/** "host:port" after an optional dns scheme ("dns:///h:p", "dns://authority/h:p", "dns:h:p"). */
function dnsName(target: string): string {
  if (!target.startsWith("dns:")) return target;
  let rest = target.slice(4);
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    rest = slash < 0 ? "" : rest.slice(slash + 1);
  }
  return rest;
}

async function resolve(host: string, port: string): Promise<string[]> {
  let found: Array<{ address: string; family: number }>;
  try {
    found = await dns.lookup(host, { all: true });
  } catch {
    return [];
  }
  const v4 = [...new Set(found.filter((a) => a.family === 4).map((a) => `ipv4:${a.address}:${port}`))].sort();
  const v6 = [...new Set(found.filter((a) => a.family === 6).map((a) => `ipv6:[${a.address}]:${port}`))].sort();
  return v4.length ? v4 : v6;
}

export async function resolveReplicaTargets(target: string): Promise<ReplicaTargets> {
  for (const scheme of ["ipv4:", "ipv6:"]) {
    if (target.startsWith(scheme)) {
      const targets = target.slice(scheme.length).split(",").filter((one) => one).map((one) => scheme + one);
      return { targets: targets.length ? targets : [target], host: "" };
    }
  }
  const name = dnsName(target);
  const colon = name.lastIndexOf(":");
  const otherScheme = name === target &&
    (target.includes("://") || target.startsWith("unix") || target.startsWith("vsock:"));
  if (otherScheme || colon <= 0 || name.startsWith("[") || name.indexOf(":") !== colon) {
    return { targets: [target], host: "" };
  }
  const host = name.slice(0, colon);
  const addresses = await resolve(host, name.slice(colon + 1));
  if (addresses.length < 2) return { targets: [target], host: "" }; // one replica: gRPC's own resolution
  return { targets: addresses, host };
}
