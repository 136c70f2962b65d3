#include "worker/replica_targets.h"

#include <gtest/gtest.h>

namespace gridflow::worker {
namespace {

using Targets = std::vector<std::string>;

TEST(ReplicaTargets, AnAddressListIsOneTargetPerAddress) {
  EXPECT_EQ(ResolveReplicaTargets("ipv4:10.0.0.1:7233,10.0.0.2:7234").targets,
            (Targets{"ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7234"}));
  EXPECT_EQ(ResolveReplicaTargets("ipv6:[fd00::1]:7233,[fd00::2]:7233").targets,
            (Targets{"ipv6:[fd00::1]:7233", "ipv6:[fd00::2]:7233"}));
  EXPECT_EQ(ResolveReplicaTargets("ipv4:10.0.0.1:7233").targets, (Targets{"ipv4:10.0.0.1:7233"}));
  EXPECT_EQ(ResolveReplicaTargets("ipv4:10.0.0.1:7233").host, "");
}

TEST(ReplicaTargets, ANameWithOneAddressStaysTheNameGiven) {
  // localhost is 127.0.0.1 and ::1: one engine, not two.
  EXPECT_EQ(ResolveReplicaTargets("localhost:7233").targets, (Targets{"localhost:7233"}));
  EXPECT_EQ(ResolveReplicaTargets("dns:///localhost:7233").targets,
            (Targets{"dns:///localhost:7233"}));
  EXPECT_EQ(ResolveReplicaTargets("127.0.0.1:7233").targets, (Targets{"127.0.0.1:7233"}));
}

TEST(ReplicaTargets, OtherSchemesAndUnresolvableNamesAreTheTargetItself) {
  for (const std::string target :
       {"unix:/run/gridflow.sock", "xds:///engine", "[::1]:7233", "engine-without-port",
        "no-such-host.invalid:7233", "dns://8.8.8.8/no-such-host.invalid:7233"}) {
    EXPECT_EQ(ResolveReplicaTargets(target).targets, (Targets{target})) << target;
  }
}

}  // namespace
}  // namespace gridflow::worker
