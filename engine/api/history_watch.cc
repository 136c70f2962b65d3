#include "engine/api/history_watch.h"

#include <spdlog/spdlog.h>

#include "engine/api/page_budget.h"
#include "engine/api/proto_convert.h"
#include "engine/api/request_decoder.h"
#include "engine/scheduler/run_status.h"

namespace gridflow::engine {

// One stream's state, shared by its reactor (gRPC threads) and the hub thread.
struct HistoryWatchHub::WatchState {
  std::recursive_mutex mu;
  std::string namespace_name;
  std::string workflow_id;
  std::string client;                   // who opened it (limits per client)
  std::string run_id;                   // known after the first read
  int64_t queued_seq = 0;               // last event read from the database
  std::deque<grpc::ByteBuffer> outbox;  // serialized v1::Event messages
  size_t outbox_bytes = 0;
  // Events are left to read, held back until the outbox is written: a stream holds at most
  // about kPageByteBudget of history, however long the run's history and slow its reader.
  bool behind = false;
  grpc::ByteBuffer writing;  // the event of the write in flight
  bool write_in_flight = false;
  bool run_closed = false;                                        // the final event has been read
  bool finished = false;                                          // Finish() was called
  grpc::ServerWriteReactor<grpc::ByteBuffer>* reactor = nullptr;  // null once OnDone ran

  // Writes the next queued event, or finishes once the run's final event went out.
  void Pump() {
    std::lock_guard lock(mu);
    if (reactor == nullptr || finished || write_in_flight) return;
    if (!outbox.empty()) {
      writing = std::move(outbox.front());
      outbox.pop_front();
      outbox_bytes -= writing.Length();
      write_in_flight = true;
      reactor->StartWrite(&writing);
    } else if (run_closed) {
      finished = true;
      reactor->Finish(grpc::Status::OK);
    }
  }

  void FinishWith(const grpc::Status& status) {
    std::lock_guard lock(mu);
    if (reactor == nullptr || finished) return;
    finished = true;
    reactor->Finish(status);
  }
};

namespace {

class HistoryReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  HistoryReactor(HistoryWatchHub& hub, std::shared_ptr<HistoryWatchHub::WatchState> watch)
      : hub_(hub), watch_(std::move(watch)) {}

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(watch_->mu);
      watch_->write_in_flight = false;
    }
    if (!ok) {
      watch_->FinishWith(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    watch_->Pump();
    std::string read_more;  // the run, when its held-back events are due now
    {
      std::lock_guard lock(watch_->mu);
      if (watch_->behind && watch_->outbox.empty()) {
        watch_->behind = false;
        read_more = watch_->run_id;
      }
    }
    if (!read_more.empty()) hub_.RunChanged(read_more);
  }

  void OnCancel() override {
    watch_->FinishWith(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
  }

  void OnDone() override {
    {
      std::lock_guard lock(watch_->mu);
      watch_->reactor = nullptr;
    }
    hub_.Remove(watch_);
    delete this;
  }

 private:
  HistoryWatchHub& hub_;
  std::shared_ptr<HistoryWatchHub::WatchState> watch_;
};

}  // namespace

HistoryWatchHub::HistoryWatchHub(RunReader& reader, Millis poll)
    : reader_(reader), task_("history watches", poll, [this] { Tick(); }) {}

HistoryWatchHub::~HistoryWatchHub() {
  Stop();
}

void HistoryWatchHub::Start() {
  task_.Start();
}

void HistoryWatchHub::Stop() {
  std::set<std::shared_ptr<WatchState>> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    left = watches_;
  }
  task_.Stop();
  for (const auto& watch : left) {
    watch->FinishWith(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the engine replica is shutting down; watch again with "
                                   "after_sequence set to the last event received"));
  }
}

void HistoryWatchHub::RunChanged(const std::string& run_id) {
  {
    std::lock_guard lock(mu_);
    if (watches_.empty()) return;  // nobody watches: nothing to do
    changed_runs_.insert(run_id);
  }
  task_.Wake();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* HistoryWatchHub::Watch(
    const v1::WatchHistoryRequest& request, const std::string& namespace_name,
    const std::string& client, int max_per_client) {
  auto watch = std::make_shared<WatchState>();
  watch->namespace_name = namespace_name;
  watch->workflow_id = request.workflow_id();
  watch->client = client;
  watch->queued_seq = request.after_sequence();
  {
    std::lock_guard lock(mu_);
    int& open = per_client_[client];
    if (open >= max_per_client) {
      if (open == 0) per_client_.erase(client);
      return nullptr;
    }
    ++open;
    watch->reactor = new HistoryReactor(*this, watch);
    watches_.insert(watch);  // its first read happens on the hub thread, which this wakes
  }
  task_.Wake();
  return watch->reactor;
}

void HistoryWatchHub::Remove(const std::shared_ptr<WatchState>& watch) {
  std::lock_guard lock(mu_);
  if (watches_.erase(watch) == 0) return;
  if (--per_client_[watch->client] <= 0) per_client_.erase(watch->client);
}

size_t HistoryWatchHub::streams() const {
  std::lock_guard lock(mu_);
  return watches_.size();
}

size_t HistoryWatchHub::held_bytes() const {
  std::lock_guard lock(mu_);
  size_t bytes = 0;
  for (const auto& watch : watches_) {
    std::lock_guard watch_lock(watch->mu);
    bytes += watch->outbox_bytes + (watch->write_in_flight ? watch->writing.Length() : 0);
  }
  return bytes;
}

void HistoryWatchHub::Tick() {
  std::vector<std::shared_ptr<WatchState>> due;
  std::vector<std::shared_ptr<WatchState>> others;  // to check against the database
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    for (const auto& watch : watches_) {
      std::lock_guard watch_lock(watch->mu);
      if (watch->finished || watch->run_closed) continue;
      if (watch->run_id.empty() || changed_runs_.count(watch->run_id) > 0) {
        due.push_back(watch);  // new, or its run changed on this replica
      } else {
        others.push_back(watch);
      }
    }
    changed_runs_.clear();
  }
  // Events recorded by other replicas: each watched run's last sequence against what its stream
  // has read.
  if (!others.empty()) {
    std::vector<std::string> run_ids;
    for (const auto& watch : others) {
      std::lock_guard watch_lock(watch->mu);
      run_ids.push_back(watch->run_id);
    }
    std::map<std::string, int64_t> last;
    if (reader_.LastEventSeqs(run_ids, &last).ok()) {
      for (const auto& watch : others) {
        std::lock_guard watch_lock(watch->mu);
        const auto seq = last.find(watch->run_id);
        if (seq != last.end() && seq->second > watch->queued_seq) due.push_back(watch);
      }
    }
  }
  for (const auto& watch : due)
    Refresh(watch);
}

void HistoryWatchHub::Refresh(const std::shared_ptr<WatchState>& watch) {
  std::string ns, workflow_id;
  int64_t after = 0;
  size_t room = 0;  // what the stream may still hold: a read ends with the event that fills it
  {
    std::lock_guard lock(watch->mu);
    if (watch->finished || watch->run_closed) return;
    ns = watch->namespace_name;
    workflow_id = watch->workflow_id;
    after = watch->queued_seq;
    if (watch->outbox_bytes >= kPageByteBudget) {
      watch->behind = true;  // read once the stream has written what it holds
      return;
    }
    room = kPageByteBudget - watch->outbox_bytes;
  }
  while (true) {
    std::vector<persistence::EventRow> events;
    persistence::RunRow run;
    const Status s = reader_.GetHistory(ns, workflow_id, after, 500, room, &events, &run);
    if (!s.ok()) {
      if (s.code() == StatusCode::kNotFound) watch->FinishWith(ToGrpcStatus(s));
      return;  // a database hiccup: the next wake-up or poll tries again
    }
    {
      std::lock_guard lock(watch->mu);
      watch->run_id = run.id;
      for (const auto& e : events) {
        v1::Event event;
        ToProto(e, &event);
        grpc::ByteBuffer bytes;
        EncodeMessage(event, &bytes);
        watch->outbox_bytes += bytes.Length();
        watch->outbox.push_back(std::move(bytes));
        watch->queued_seq = e.seq;
      }
      if (IsClosedRunStatus(run.status) && watch->queued_seq >= run.last_event_seq) {
        watch->run_closed = true;
      }
      after = watch->queued_seq;
      if (events.empty() || after >= run.last_event_seq) break;  // caught up
      if (watch->outbox_bytes >= kPageByteBudget) {
        watch->behind = true;
        break;
      }
      room = kPageByteBudget - watch->outbox_bytes;
    }
  }
  watch->Pump();
}

}  // namespace gridflow::engine
