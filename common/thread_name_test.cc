#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <thread>

namespace gridflow {
namespace {

TEST(ThreadName, PrefixedDashedAndCutToWhatLinuxKeeps) {
  EXPECT_EQ(ThreadName("commit"), "gf-commit");
  EXPECT_EQ(ThreadName("lease reaper"), "gf-lease-reaper");
  EXPECT_EQ(ThreadName("schedule-to-start timeouts"), "gf-schedule-to-");
}

TEST(ThreadName, NamesTheCallingThreadOnly) {
  std::string seen;
  std::thread named([&] {
    NameThisThread("history watches");
    char buffer[16] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    seen = buffer;
  });
  named.join();
  EXPECT_EQ(seen, "gf-history-watc");
  char own[16] = {};
  pthread_getname_np(pthread_self(), own, sizeof own);
  EXPECT_NE(std::string(own), "gf-history-watc");
}

}  // namespace
}  // namespace gridflow
