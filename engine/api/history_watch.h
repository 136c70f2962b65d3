// WatchHistory: a run's history as a server stream. A stream sends the events recorded so far,
// then each new one, and ends after the run's final event (or when the caller goes away).
//
// HistoryWatchHub wakes streams when their run records events: transitions committed by this
// replica report their runs directly (at once); for the others' it reads, every `poll`, the last
// event sequence of every watched run (one statement, only while streams are open) — no NOTIFY,
// so appending history costs nothing when nobody watches, and no notification can be lost. One
// hub thread (a PeriodicTask) reads the new events from the database and queues them on the
// stream; the stream writes them one at a time (the callback API allows one outstanding write).
// A stream queues about kPageByteBudget at most; the rest is read as its caller takes events.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "engine/scheduler/run_reader.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::engine {

class HistoryWatchHub final : public HistoryListener {
 public:
  struct WatchState;

  HistoryWatchHub(RunReader& reader, Millis poll);
  ~HistoryWatchHub() override;

  void Start();
  // Ends every stream (UNAVAILABLE: the caller resumes on another replica) and stops the thread.
  void Stop();
  // Events were recorded for this run.
  void RunChanged(const std::string& run_id);
  // HistoryListener: this replica committed events of the run.
  void HistoryGrew(const std::string& run_id) override { RunChanged(run_id); }

  // Starts streaming `request`'s run to a new reactor (serialized v1::Event messages); nullptr
  // when `client` already holds `max_per_client` streams here.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(const v1::WatchHistoryRequest& request,
                                                    const std::string& namespace_name,
                                                    const std::string& client, int max_per_client);

  void Remove(const std::shared_ptr<WatchState>& watch);
  // Streams open now.
  size_t streams() const;
  // Serialized events read for the streams and not yet written to their callers (a stream holds
  // about kPageByteBudget at most, plus the event being written).
  size_t held_bytes() const;

 private:
  void Tick();
  void Refresh(const std::shared_ptr<WatchState>& watch);

  RunReader& reader_;

  mutable std::mutex mu_;
  std::set<std::shared_ptr<WatchState>> watches_;
  std::map<std::string, int> per_client_;  // open streams by client
  std::set<std::string> changed_runs_;
  bool stopping_ = false;
  PeriodicTask task_;
};

}  // namespace gridflow::engine
