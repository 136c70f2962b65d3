// ReplicaTargets: the engine replicas a gRPC target names, one single-address target per replica,
// so a worker can hold a long-poll on each of them (docs/worker.md, "Several replicas").
//
//   "ipv4:10.0.0.1:7233,10.0.0.2:7233"   -> "ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7233"
//   "dns:///engine.ns.svc:7233", "engine.ns.svc:7233"
//                                        -> every address the name resolves to now (IPv4 ones when
//                                           there are any, else IPv6; "localhost" is one replica)
//   anything else ("unix:/run/gf.sock", a name that does not resolve) -> the target itself
//
// A name is resolved when called: callers call again to follow replicas that come and go.
#pragma once

#include <string>
#include <vector>

namespace gridflow::worker {

struct ReplicaTargets {
  std::vector<std::string> targets;  // never empty
  // The host name the target was resolved from ("" for address lists and other schemes): the
  // name a TLS certificate is checked against when one replica is dialled by address.
  std::string host;
};

ReplicaTargets ResolveReplicaTargets(const std::string& target);

}  // namespace gridflow::worker
