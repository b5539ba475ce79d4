#include "daemon/jobs.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>

namespace haven::daemon {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(JobsTest, AJobReportsProgressThenItsResult) {
  Jobs jobs;
  std::promise<void> reported, go_on;
  auto may_end = go_on.get_future().share();
  std::string id = jobs.start("backup", "vm1", [&](const Jobs::Report& report) -> Result<json> {
    report({{"done_bytes", 5}});
    reported.set_value();
    may_end.wait();
    return json{{"snapshots", 1}};
  });
  reported.get_future().wait();
  auto running = jobs.find(id);
  ASSERT_TRUE(running);
  EXPECT_EQ((*running)["state"], "running");
  EXPECT_EQ((*running)["kind"], "backup");
  EXPECT_EQ((*running)["vm"], "vm1");
  EXPECT_EQ((*running)["progress"]["done_bytes"], 5);
  EXPECT_FALSE(running->contains("result"));
  go_on.set_value();
  auto ended = jobs.wait(id, 10s);  // answers when it ends, long before 10 s
  ASSERT_TRUE(ended);
  EXPECT_EQ((*ended)["state"], "succeeded");
  EXPECT_EQ((*ended)["result"]["snapshots"], 1);
  EXPECT_TRUE(ended->contains("ended_at"));
}

TEST(JobsTest, AFailedJobCarriesItsError) {
  Jobs jobs;
  std::string id = jobs.start("backup", "vm1", [](const Jobs::Report&) -> Result<json> {
    return make_error("repo: no repository at /nowhere");
  });
  auto ended = jobs.wait(id, 10s);
  ASSERT_TRUE(ended);
  EXPECT_EQ((*ended)["state"], "failed");
  EXPECT_EQ((*ended)["error"], "repo: no repository at /nowhere");
  EXPECT_FALSE(ended->contains("result"));
}

// A job that throws is a bug in it, not the daemon's end: the job fails naming the error, and
// the other jobs (and the daemon) go on.
TEST(JobsTest, AJobThatThrowsFailsAloneWithAnInternalError) {
  Jobs jobs;
  std::string thrown = jobs.start("backup", "vm1", [](const Jobs::Report&) -> Result<json> {
    throw std::runtime_error("vector::_M_range_check");
  });
  std::string odd =
      jobs.start("backup", "vm2", [](const Jobs::Report&) -> Result<json> { throw 42; });
  std::string fine = jobs.start("backup", "vm3", [](const Jobs::Report&) -> Result<json> {
    return json{{"ok", true}};
  });
  auto first = jobs.wait(thrown, 10s);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["state"], "failed");
  EXPECT_EQ((*first)["error"], "internal error: vector::_M_range_check");
  auto second = jobs.wait(odd, 10s);
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)["state"], "failed");
  EXPECT_NE((*second)["error"].get<std::string>().find("internal error"), std::string::npos);
  auto third = jobs.wait(fine, 10s);
  ASSERT_TRUE(third);
  EXPECT_EQ((*third)["state"], "succeeded");
}

TEST(JobsTest, WaitGivesTheRunningStateWhenTimeRunsOut) {
  Jobs jobs;
  std::promise<void> go_on;
  auto may_end = go_on.get_future().share();
  std::string id = jobs.start("backup", "vm1", [may_end](const Jobs::Report&) -> Result<json> {
    may_end.wait();
    return json::object();
  });
  auto still = jobs.wait(id, 1ms);
  ASSERT_TRUE(still);
  EXPECT_EQ((*still)["state"], "running");
  go_on.set_value();
  // Ended before the promise and future it waited on go.
  EXPECT_EQ((*jobs.wait(id, 10s))["state"], "succeeded");
}

TEST(JobsTest, UnknownIdsAreNotFoundAndIdsAreDistinct) {
  Jobs jobs;
  EXPECT_FALSE(jobs.find("backup-99"));
  EXPECT_FALSE(jobs.wait("backup-99", 1ms));
  auto work = [](const Jobs::Report&) -> Result<json> { return json::object(); };
  std::string a = jobs.start("backup", "a", work), b = jobs.start("backup", "b", work);
  EXPECT_NE(a, b);
  ASSERT_TRUE(jobs.wait(a, 10s));
  ASSERT_TRUE(jobs.wait(b, 10s));
  EXPECT_EQ(jobs.list().size(), 2u);
}

// By the order they were started in: ids sort as text ("backup-10" before "backup-9"), which
// once dropped backup-10 and kept backup-2.
TEST(JobsTest, OnlyTheLastHundredEndedJobsAreKeptOldestGoFirst) {
  Jobs jobs;
  auto work = [](const Jobs::Report&) -> Result<json> { return json::object(); };
  std::vector<std::string> ids;
  for (int i = 0; i < 102; ++i) {
    ids.push_back(jobs.start("backup", "vm", work));
    ASSERT_EQ((*jobs.wait(ids.back(), 10s))["state"], "succeeded");
  }
  std::string newest = jobs.start("backup", "vm", work);  // a start prunes the ended ones
  ASSERT_TRUE(jobs.wait(newest, 10s));
  EXPECT_FALSE(jobs.find(ids[0]));  // backup-1
  EXPECT_FALSE(jobs.find(ids[1]));  // backup-2
  for (size_t i = 2; i < ids.size(); ++i) EXPECT_TRUE(jobs.find(ids[i])) << ids[i];
  // Listed oldest first.
  json listed = jobs.list();
  ASSERT_EQ(listed.size(), 101u);
  EXPECT_EQ(listed.front()["id"], ids[2]);
  EXPECT_EQ(listed[7]["id"], ids[9]) << "backup-10 after backup-9";
  EXPECT_EQ(listed.back()["id"], newest);
}

}  // namespace
}  // namespace haven::daemon
