#include "engine/api/cluster_service.h"

#include <google/protobuf/util/time_util.h>

#include "engine/api/proto_convert.h"
#include "engine/cluster/queue_report.h"

namespace gridflow::engine {

ClusterServiceImpl::ClusterServiceImpl(WorkPool& pool, persistence::ConnectionPool& database,
                                       RequestValidator& validator, Membership& membership,
                                       HealthMonitor& health)
    : database_(database), validator_(validator), membership_(membership), health_(health) {
  UnaryOnPool("GetClusterStatus", pool, this, &ClusterServiceImpl::GetClusterStatus);
  UnaryOnPool("ListQueues", pool, this, &ClusterServiceImpl::ListQueues);
  VerifyAllServed();
}

Status ClusterServiceImpl::GetClusterStatus(const v1::GetClusterStatusRequest&,
                                            v1::GetClusterStatusResponse* resp) {
  {
    resp->set_answered_by(membership_.member_id());
    std::vector<persistence::MemberRow> members;
    int schema_version = 0;
    const Status s = membership_.ReadCluster(&members, &schema_version);
    resp->set_database_reachable(s.ok() && health_.database_reachable());
    if (!s.ok()) return s;  // UNAVAILABLE: the caller learns this replica lost its database
    resp->set_schema_version(schema_version);
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
      out->set_alive(membership_.IsAlive(m));
    }
    return Status::Ok();
  }
}

Status ClusterServiceImpl::ListQueues(const v1::ListQueuesRequest& req,
                                      v1::ListQueuesResponse* resp) {
  {
    std::string ns;
    Status s = validator_.Namespace(req.namespace_(), &ns);
    if (!s.ok()) return s;
    std::vector<QueueReport> queues;
    if (s = ReadQueueReport(database_, membership_, ns, &queues); !s.ok()) return s;
    for (const QueueReport& q : queues) {
      v1::QueueInfo* out = resp->add_queues();
      out->set_name(q.stats.queue);
      out->set_pending(q.stats.pending);
      out->set_due(q.stats.due);
      out->set_leased(q.stats.leased);
      *out->mutable_oldest_due_age() = google::protobuf::util::TimeUtil::MillisecondsToDuration(
          static_cast<int64_t>(q.stats.oldest_due_seconds * 1000));
      out->set_waiting_polls(q.waiting_polls);
    }
    return Status::Ok();
  }
}

}  // namespace gridflow::engine
