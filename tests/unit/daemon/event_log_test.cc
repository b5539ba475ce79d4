#include "daemon/event_log.h"

#include <gtest/gtest.h>

#include <thread>

namespace haven::daemon {
namespace {

using std::chrono::milliseconds;

TEST(EventLog, NumbersEventsAndGivesWhatCameAfter) {
  EventLog log;
  EXPECT_EQ(log.last_seq(), 0u);
  log.append("a", {{"state", "running"}});
  log.append("b", {{"state", "stopped"}});
  auto all = log.after(0, milliseconds(0));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].seq, 1u);
  EXPECT_EQ(all[1].vm, "b");
  EXPECT_EQ(log.after(1, milliseconds(0)).size(), 1u);
  EXPECT_TRUE(log.after(2, milliseconds(0)).empty());
  EXPECT_EQ(event_to_json(all[0])["status"]["state"], "running");
}

TEST(EventLog, AWaiterWakesForANewEventAndOnClose) {
  EventLog log;
  std::jthread writer([&] { log.append("a", {}); });
  auto got = log.after(0, std::chrono::minutes(1));  // returns when the event is there
  EXPECT_EQ(got.size(), 1u);
  writer.join();
  std::jthread closer([&] { log.close(); });
  EXPECT_TRUE(log.after(1, std::chrono::minutes(1)).empty());
  EXPECT_TRUE(log.closed());
}

TEST(EventLog, KeepsOnlyTheLatest) {
  EventLog log;
  for (size_t i = 0; i < EventLog::kKeep + 10; ++i) log.append("a", {});
  auto kept = log.after(0, milliseconds(0));
  EXPECT_EQ(kept.size(), EventLog::kKeep);
  EXPECT_EQ(kept.front().seq, 11u);
}

}  // namespace
}  // namespace haven::daemon
