#include "worker/replica_targets.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <set>

namespace gridflow::worker {
namespace {

// "ipv4:a:1,b:2" -> "ipv4:a:1", "ipv4:b:2".
std::vector<std::string> SplitList(const std::string& scheme, const std::string& list) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t comma = list.find(',', begin);
    const std::string one =
        list.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    if (!one.empty()) out.push_back(scheme + one);
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

// "host:port" after an optional dns scheme ("dns:///h:p", "dns://authority/h:p", "dns:h:p").
std::string DnsName(const std::string& target) {
  if (target.rfind("dns:", 0) != 0) return target;
  std::string rest = target.substr(4);
  if (rest.rfind("//", 0) == 0) {
    const size_t slash = rest.find('/', 2);
    rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
  }
  return rest;
}

// Every address `host` resolves to: the IPv4 ones when there are any, else the IPv6 ones ("::1"
// and "127.0.0.1" for localhost are one engine, not two).
std::vector<std::string> Resolve(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return {};
  std::set<std::string> v4, v6;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr)
        v4.insert("ipv4:" + std::string(text) + ":" + port);
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) != nullptr)
        v6.insert("ipv6:[" + std::string(text) + "]:" + port);
    }
  }
  freeaddrinfo(found);
  const std::set<std::string>& chosen = v4.empty() ? v6 : v4;
  return {chosen.begin(), chosen.end()};
}

}  // namespace

ReplicaTargets ResolveReplicaTargets(const std::string& target) {
  ReplicaTargets out;
  for (const char* scheme : {"ipv4:", "ipv6:"}) {
    if (target.rfind(scheme, 0) == 0) {
      out.targets = SplitList(scheme, target.substr(std::string(scheme).size()));
      if (out.targets.empty()) out.targets = {target};
      return out;
    }
  }
  const std::string name = DnsName(target);
  const size_t colon = name.rfind(':');
  // Other schemes ("unix:", "xds://"), bracketed IPv6 literals and names without a port: as given.
  const bool other_scheme =
      name == target && (target.find("://") != std::string::npos || target.rfind("unix", 0) == 0 ||
                         target.rfind("vsock:", 0) == 0);
  if (other_scheme || colon == std::string::npos || colon == 0 || name.front() == '[' ||
      name.find(':') != colon) {
    out.targets = {target};
    return out;
  }
  const std::string host = name.substr(0, colon);
  std::vector<std::string> addresses = Resolve(host, name.substr(colon + 1));
  if (addresses.size() < 2) {
    out.targets = {target};  // one replica: gRPC's own resolution, as before
    return out;
  }
  out.targets = std::move(addresses);
  out.host = host;
  return out;
}

}  // namespace gridflow::worker
