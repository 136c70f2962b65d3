"""The engine replicas a gRPC target names, one single-address target per replica, so a worker can
hold a long-poll on each of them (docs/sdk-python.md, "Several replicas"; the C++ SDK's
worker/replica_targets.h does the same):

    "ipv4:10.0.0.1:7233,10.0.0.2:7233"  -> "ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7233"
    "dns:///engine.ns.svc:7233", "engine.ns.svc:7233"
                                        -> every address the name resolves to now (the IPv4 ones
                                           when there are any, else IPv6; "localhost" is one)
    anything else ("unix:/run/gf.sock", a name that does not resolve) -> the target itself

A name is resolved when called: callers call again to follow replicas that come and go."""
import socket


def _dns_name(target):
    """"host:port" after an optional dns scheme ("dns:///h:p", "dns://authority/h:p", "dns:h:p")."""
    if not target.startswith("dns:"):
        return target
    rest = target[4:]
    if rest.startswith("//"):
        slash = rest.find("/", 2)
        rest = "" if slash < 0 else rest[slash + 1:]
    return rest


def _resolve(host, port):
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    v4 = sorted({f"ipv4:{a[4][0]}:{port}" for a in found if a[0] == socket.AF_INET})
    v6 = sorted({f"ipv6:[{a[4][0]}]:{port}" for a in found if a[0] == socket.AF_INET6})
    return v4 or v6


def resolve_replica_targets(target):
    """Returns (targets, host): targets is never empty; host is the name the targets were resolved
    from ("" otherwise), the name a TLS certificate is checked against when a replica is dialled by
    address."""
    for scheme in ("ipv4:", "ipv6:"):
        if target.startswith(scheme):
            targets = [scheme + one for one in target[len(scheme):].split(",") if one]
            return (targets or [target]), ""
    name = _dns_name(target)
    colon = name.rfind(":")
    other_scheme = name == target and ("://" in target or target.startswith(("unix", "vsock:")))
    if other_scheme or colon <= 0 or name.startswith("[") or name.find(":") != colon:
        return [target], ""
    host = name[:colon]
    addresses = _resolve(host, name[colon + 1:])
    if len(addresses) < 2:
        return [target], ""  # one replica: gRPC's own resolution, as before
    return addresses, host
