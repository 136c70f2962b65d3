#include "engine/scheduler/group_committer.h"

#include <algorithm>
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
      urgent_.push_back(static_cast<size_t>(std::count_if(
          batch.begin(), batch.end(), [](const auto& call) { return call->urgent; })));
      cv_.notify_all();
      cv_.wait(lock, [this] { return read_tokens_ > 0; });
      --read_tokens_;
      lock.unlock();
      reads_done();
      lock.lock();
      ++read_;
      cv_.notify_all();
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
  // Waits until `n` batches have ended their read phase (reads_done called).
  bool Read(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return read_ >= n; });
  }
  bool Committed(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return committed_ >= n; });
  }
  std::vector<size_t> sizes() {
    std::lock_guard lock(mu_);
    return sizes_;
  }
  // Per batch begun: how many of its calls were urgent.
  std::vector<size_t> urgent() {
    std::lock_guard lock(mu_);
    return urgent_;
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
  std::vector<size_t> urgent_;
  int read_tokens_ = 0;
  int commit_tokens_ = 0;
  int read_ = 0;
  int committed_ = 0;
};

std::unique_ptr<Scheduler::Call> Start(bool urgent = false) {
  auto call = std::make_unique<Scheduler::Call>();
  call->kind = Scheduler::Call::Kind::kStart;
  call->urgent = urgent;
  call->start_done = [](const Status&, const persistence::RunRow&, bool) {};
  return call;
}

class GroupCommitterTest : public testing::Test {
 protected:
  GroupCommitterTest() : committer_(runner_.Runner(), 2, 256) {}
  // Every batch let through, failed test or not, before the committer stops.
  ~GroupCommitterTest() override { runner_.Open(); }

  void Submit(size_t n, bool urgent = false) {
    for (size_t i = 0; i < n; ++i)
      ASSERT_TRUE(committer_.Submit(Start(urgent)));
  }
  // Runs batches large enough that the committer counts as loaded (its recent batches held more
  // than one call each), then begins one more that stays in flight, committing.
  void LoadedWithABatchCommitting() {
    Submit(1);
    ASSERT_TRUE(runner_.Begun(++begun_));
    Submit(20);  // queued: the batch above is reading
    runner_.LetRead();
    ASSERT_TRUE(runner_.Begun(++begun_));  // the 20, as one batch
    runner_.LetRead();
    runner_.LetCommit(2);
    ASSERT_TRUE(runner_.Committed(2));
    ASSERT_TRUE(Idle());
    Submit(1);  // nothing in flight: at once
    ASSERT_TRUE(runner_.Begun(++begun_));
    runner_.LetRead();
    ASSERT_TRUE(runner_.Read(3));  // committing
  }
  // Waits until the threads that answered their batches have counted them out.
  bool Idle() {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (committer_.CurrentLoad().in_flight > 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  // Whether the calls just queued wait: no thread took them, and none may (checked at once, not
  // after a while: a committer that wrongly wakes a thread either still may begin or has begun).
  bool NoneBegins() {
    const GroupCommitter::Load load = committer_.CurrentLoad();
    return load.in_flight == 1 && !load.may_begin;
  }

  SteppedRunner runner_;
  GroupCommitter committer_;
  size_t begun_ = 0;
};

TEST_F(GroupCommitterTest, ALoneCallIsAppliedAtOnce) {
  Submit(1);
  ASSERT_TRUE(runner_.Begun(1));
  EXPECT_EQ(runner_.sizes(), std::vector<size_t>{1});
}

TEST_F(GroupCommitterTest, CallsQueuedDuringTheReadPhaseGoTogetherInTheNextBatch) {
  Submit(1);
  ASSERT_TRUE(runner_.Begun(++begun_));
  Submit(12);  // a batch is reading: none begins, whatever the queue
  EXPECT_TRUE(NoneBegins());
  runner_.LetRead();
  ASSERT_TRUE(runner_.Begun(2));
  EXPECT_EQ(runner_.sizes(), (std::vector<size_t>{1, 12}));
}

TEST_F(GroupCommitterTest, UnderModerateLoadCallsWaitForTheBatchInFlightInsteadOfASecondOne) {
  LoadedWithABatchCommitting();
  Submit(GroupCommitter::kBusyQueue - 1);
  EXPECT_TRUE(NoneBegins()) << "a second transaction for a short queue";
  runner_.LetCommit();  // the batch in flight answers; the queue goes as one batch
  ASSERT_TRUE(runner_.Begun(++begun_));
  EXPECT_EQ(runner_.sizes().back(), GroupCommitter::kBusyQueue - 1);
}

TEST_F(GroupCommitterTest, AQueueWorthATransactionBeginsASecondBatchBesideTheOneInFlight) {
  LoadedWithABatchCommitting();
  Submit(GroupCommitter::kBusyQueue);
  ASSERT_TRUE(runner_.Begun(++begun_)) << "no second batch for a full queue";
  EXPECT_EQ(runner_.sizes().back(), GroupCommitter::kBusyQueue);
}

TEST_F(GroupCommitterTest, TheShareInFlightBindsAFullQueueUnderLoad) {
  committer_.SetConcurrency(1);
  LoadedWithABatchCommitting();
  Submit(2 * GroupCommitter::kBusyQueue);
  EXPECT_TRUE(NoneBegins());
}

TEST_F(GroupCommitterTest, AtLightLoadACallTakesAFreeThreadBesideTheBatchInFlight) {
  committer_.SetConcurrency(1);  // beyond the share too: waiting would gather no company
  Submit(1);                     // batches of one call: light load
  ASSERT_TRUE(runner_.Begun(1));
  runner_.LetRead();  // in flight, committing
  Submit(1);
  ASSERT_TRUE(runner_.Begun(2));
  EXPECT_EQ(runner_.sizes(), (std::vector<size_t>{1, 1}));
}

TEST_F(GroupCommitterTest, AnUrgentCallBeginsBesideABatchThatIsReading) {
  Submit(1);
  ASSERT_TRUE(runner_.Begun(1));  // reading: ordinary calls would wait for it
  Submit(1, /*urgent=*/true);
  ASSERT_TRUE(runner_.Begun(2)) << "the urgent call waited for the batch reading";
  EXPECT_EQ(runner_.urgent(), (std::vector<size_t>{0, 1}));
}

TEST_F(GroupCommitterTest, AnUrgentBatchHoldsNoReadPhase) {
  Submit(1, /*urgent=*/true);
  ASSERT_TRUE(runner_.Begun(1));  // reading
  Submit(1);
  ASSERT_TRUE(runner_.Begun(2)) << "an ordinary call waited for an urgent batch's reads";
}

TEST_F(GroupCommitterTest, TheShareInFlightDoesNotBindUrgentCalls) {
  committer_.SetConcurrency(1);
  LoadedWithABatchCommitting();
  Submit(GroupCommitter::kBusyQueue - 1);
  EXPECT_TRUE(NoneBegins());
  Submit(1, /*urgent=*/true);
  ASSERT_TRUE(runner_.Begun(++begun_)) << "the urgent call waited for the share";
  EXPECT_EQ(runner_.sizes().back(), 1u);
  EXPECT_EQ(runner_.urgent().back(), 1u);
}

TEST_F(GroupCommitterTest, OneUrgentBatchAtATimeLeavesTheOtherThreadToTheQueue) {
  Submit(1, /*urgent=*/true);
  ASSERT_TRUE(runner_.Begun(1));
  Submit(1, /*urgent=*/true);  // waits for the urgent batch in flight
  EXPECT_TRUE(NoneBegins());
  Submit(1);  // the other thread is the queue's
  ASSERT_TRUE(runner_.Begun(2));
  runner_.Open();
  ASSERT_TRUE(runner_.Begun(3));
  EXPECT_EQ(runner_.urgent(), (std::vector<size_t>{1, 0, 1}));
}

TEST(GroupCommitter, AnUrgentCallBeginsWhileEveryThreadIsInABatchAndGoesApartFromTheQueue) {
  SteppedRunner runner;
  GroupCommitter committer(runner.Runner(), 1, 256);
  ASSERT_TRUE(committer.Submit(Start()));
  ASSERT_TRUE(runner.Begun(1));  // the only ordinary thread is busy
  for (bool urgent : {false, false, false, true})
    ASSERT_TRUE(committer.Submit(Start(urgent)));
  ASSERT_TRUE(runner.Begun(2)) << "the urgent call waited for a thread";
  EXPECT_EQ(runner.sizes(), (std::vector<size_t>{1, 1}));
  EXPECT_EQ(runner.urgent(), (std::vector<size_t>{0, 1}));
  ASSERT_TRUE(committer.Submit(Start(true)));  // waits for the urgent batch in flight
  runner.Open();
  ASSERT_TRUE(runner.Begun(4));
  const std::vector<size_t> sizes = runner.sizes(), urgent = runner.urgent();
  for (size_t i = 2; i < sizes.size(); ++i)  // the queue's 3 and the urgent 1, in either order
    EXPECT_TRUE(urgent[i] == 0 ? sizes[i] == 3 : sizes[i] == 1 && urgent[i] == 1) << i;
}

TEST_F(GroupCommitterTest, StopAppliesWhatIsQueued) {
  LoadedWithABatchCommitting();
  Submit(3);
  Submit(2, /*urgent=*/true);
  runner_.Open();
  committer_.Stop();
  size_t applied = 0;
  for (size_t n : runner_.sizes())
    applied += n;
  EXPECT_EQ(applied, 1 + 20 + 1 + 3 + 2u);
  EXPECT_FALSE(committer_.Submit(Start()));
}

}  // namespace
}  // namespace gridflow::engine
