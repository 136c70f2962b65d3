#include "engine/scheduler/group_committer.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/scheduler/scheduler_call.h"

namespace gridflow::engine {
namespace {

using namespace std::chrono_literals;

// A batch runner whose batches the test lets through one phase at a time: each batch waits for
// a "read" token before calling reads_done and for a "commit" token before answering its calls.
class SteppedRunner {
 public:
  GroupCommitter::BatchRunner Runner() {
    return [this](std::vector<std::unique_ptr<Scheduler::Call>> batch,
                  const std::function<void()>& reads_done) {
      std::unique_lock lock(mu_);
      sizes_.push_back(batch.size());
      cv_.notify_all();
      cv_.wait(lock, [this] { return read_tokens_ > 0; });
      --read_tokens_;
      lock.unlock();
      reads_done();
      lock.lock();
      cv_.wait(lock, [this] { return commit_tokens_ > 0; });
      --commit_tokens_;
      ++committed_;
      cv_.notify_all();
      lock.unlock();
      for (auto& call : batch)
        call->Deliver(Status::Ok());
    };
  }
  void LetRead(int n = 1) { Add(read_tokens_, n); }
  void LetCommit(int n = 1) { Add(commit_tokens_, n); }
  // Waits until `n` batches have begun; false after five seconds.
  bool Begun(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return sizes_.size() >= n; });
  }
  bool Committed(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return committed_ >= n; });
  }
  std::vector<size_t> sizes() {
    std::lock_guard lock(mu_);
    return sizes_;
  }
  // Lets every batch through (so the committer can stop).
  void Open() {
    LetRead(1000);
    LetCommit(1000);
  }

 private:
  void Add(int& tokens, int n) {
    std::lock_guard lock(mu_);
    tokens += n;
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<size_t> sizes_;
  int read_tokens_ = 0;
  int commit_tokens_ = 0;
  int committed_ = 0;
};

// Lets every batch through at the end of a test, failed or not, before the committer stops.
struct OpenAtEnd {
  SteppedRunner& runner;
  ~OpenAtEnd() { runner.Open(); }
};

std::unique_ptr<Scheduler::Call> Start() {
  auto call = std::make_unique<Scheduler::Call>();
  call->kind = Scheduler::Call::Kind::kStart;
  call->start_done = [](const Status&, const persistence::RunRow&, bool) {};
  return call;
}

void Submit(GroupCommitter& committer, size_t n) {
  for (size_t i = 0; i < n; ++i)
    ASSERT_TRUE(committer.Submit(Start()));
}

// Runs batches large enough that the committer counts as loaded (its recent batches held more
// than one call each): one batch is held in its read phase while `calls` queue behind it.
void Load(GroupCommitter& committer, SteppedRunner& runner, size_t* begun) {
  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(++*begun));
  Submit(committer, 20);  // queued: the batch above is reading
  runner.LetRead();
  ASSERT_TRUE(runner.Begun(++*begun));  // the 20, as one batch
  runner.LetRead();
  runner.LetCommit(2);
  ASSERT_TRUE(runner.Committed(2));
}

TEST(GroupCommitter, ALoneCallIsAppliedAtOnce) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(1));
  EXPECT_EQ(runner.sizes(), std::vector<size_t>{1});
}

TEST(GroupCommitter, CallsQueuedDuringTheReadPhaseGoTogetherInTheNextBatch) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(1));
  Submit(committer, 12);  // a batch is reading: none begins, whatever the queue
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runner.sizes().size(), 1u);
  runner.LetRead();
  ASSERT_TRUE(runner.Begun(2));
  EXPECT_EQ(runner.sizes(), (std::vector<size_t>{1, 12}));
}

TEST(GroupCommitter, UnderModerateLoadCallsWaitForTheBatchInFlightInsteadOfASecondTransaction) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  size_t begun = 0;
  Load(committer, runner, &begun);

  Submit(committer, 1);  // nothing in flight: at once
  ASSERT_TRUE(runner.Begun(++begun));
  runner.LetRead();  // in flight, committing
  Submit(committer, GroupCommitter::kBusyQueue - 1);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runner.sizes().size(), begun) << "a second transaction for a short queue";
  runner.LetCommit();  // the batch in flight answers; the queue goes as one batch
  ASSERT_TRUE(runner.Begun(++begun));
  EXPECT_EQ(runner.sizes().back(), GroupCommitter::kBusyQueue - 1);
}

TEST(GroupCommitter, AQueueWorthATransactionBeginsASecondBatchBesideTheOneInFlight) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  size_t begun = 0;
  Load(committer, runner, &begun);

  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(++begun));
  runner.LetRead();  // in flight, committing (not answered)
  Submit(committer, GroupCommitter::kBusyQueue);
  ASSERT_TRUE(runner.Begun(++begun)) << "no second batch for a full queue";
  EXPECT_EQ(runner.sizes().back(), GroupCommitter::kBusyQueue);
}

TEST(GroupCommitter, TheShareInFlightBindsAFullQueueUnderLoad) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  committer.SetConcurrency(1);
  size_t begun = 0;
  Load(committer, runner, &begun);

  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(++begun));
  runner.LetRead();
  Submit(committer, 2 * GroupCommitter::kBusyQueue);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runner.sizes().size(), begun);
}

TEST(GroupCommitter, AtLightLoadACallTakesAFreeThreadBesideTheBatchInFlight) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  committer.SetConcurrency(1);  // beyond the share too: waiting would gather no company
  Submit(committer, 1);         // batches of one call: light load
  ASSERT_TRUE(runner.Begun(1));
  runner.LetRead();  // in flight, committing
  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(2));
  EXPECT_EQ(runner.sizes(), (std::vector<size_t>{1, 1}));
}

TEST(GroupCommitter, StopAppliesWhatIsQueued) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 2, 256);
  OpenAtEnd open{runner};
  size_t begun = 0;
  Load(committer, runner, &begun);
  Submit(committer, 1);
  ASSERT_TRUE(runner.Begun(++begun));
  runner.LetRead();
  Submit(committer, 3);
  runner.Open();
  committer.Stop();
  size_t applied = 0;
  for (size_t n : runner.sizes())
    applied += n;
  EXPECT_EQ(applied, 1 + 20 + 1 + 3u);
  EXPECT_FALSE(committer.Submit(Start()));
}

}  // namespace
}  // namespace gridflow::engine
