#include "engine/api/cluster_service.h"

#include <google/protobuf/util/time_util.h>

#include "engine/api/proto_convert.h"
#include "engine/api/rpc_boundary.h"

namespace gridflow::engine {

grpc::Status ClusterServiceImpl::GetClusterStatus(grpc::ServerContext*,
                                                  const v1::GetClusterStatusRequest*,
                                                  v1::GetClusterStatusResponse* resp) {
  return ServeRpc("GetClusterStatus", [&]() -> Status {
    resp->set_answered_by(membership_.member_id());
    std::vector<persistence::MemberRow> members;
    int schema_version = 0;
    const Status s = membership_.ReadCluster(&members, &schema_version);
    resp->set_database_reachable(s.ok() && health_.database_reachable());
    if (!s.ok()) return s;  // UNAVAILABLE: the caller learns this replica lost its database
    resp->set_schema_version(schema_version);
    // Alive: heartbeating within three intervals (two missed beats are tolerated).
    const double alive_within =
        3.0 * std::chrono::duration<double>(membership_.heartbeat_interval()).count();
    for (const persistence::MemberRow& m : members) {
      v1::Member* out = resp->add_members();
      out->set_member_id(m.id);
      out->set_address(m.address);
      out->set_hostname(m.hostname);
      out->set_pid(m.pid);
      out->set_version(m.version);
      ToProto(m.started_at, out->mutable_start_time());
      ToProto(m.heartbeat_at, out->mutable_heartbeat_time());
      *out->mutable_heartbeat_age() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
          static_cast<int64_t>(m.seconds_since_heartbeat * 1000));
      out->set_draining(m.draining);
      if (m.stopped_at) ToProto(*m.stopped_at, out->mutable_stop_time());
      out->set_alive(!m.stopped_at && m.seconds_since_heartbeat < alive_within);
    }
    return Status::Ok();
  });
}

}  // namespace gridflow::engine
