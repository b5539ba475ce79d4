#include <gtest/gtest.h>
#include <poll.h>

#include "vmm/console.h"
#include "vmm/stop_control.h"
#include "vmm/stop_reason.h"

namespace haven::vmm {
namespace {

TEST(StopReason, ExitStatusesAreTheDocumentedOnes) {
  EXPECT_EQ(exit_status({StopKind::power_off, ""}), 0);
  EXPECT_EQ(exit_status({StopKind::error, ""}), 1);
  EXPECT_EQ(exit_status({StopKind::crash, ""}), 3);
  EXPECT_EQ(exit_status({StopKind::panic, ""}), 4);
  EXPECT_EQ(exit_status({StopKind::reset, ""}), 5);
  EXPECT_EQ(exit_status({StopKind::user_quit, ""}), 6);
  EXPECT_EQ(exit_status({StopKind::host_signal, "", 15}), 128 + 15);
  EXPECT_EQ(kExitUsage, 2);
}

TEST(StopControl, FirstReasonWinsAndTheFdBecomesReadable) {
  auto stop = StopControl::create();
  ASSERT_TRUE(stop) << stop.error().message();
  pollfd pfd{(*stop)->fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  EXPECT_FALSE((*stop)->requested());
  (*stop)->request({StopKind::panic, "first"});
  (*stop)->request({StopKind::power_off, "second"});
  EXPECT_TRUE((*stop)->requested());
  EXPECT_EQ(poll(&pfd, 1, 0), 1);
  ASSERT_TRUE((*stop)->reason());
  EXPECT_EQ((*stop)->reason()->kind, StopKind::panic);
  EXPECT_EQ((*stop)->reason()->detail, "first");
}

std::string filtered(EscapeFilter& filter, std::string_view input, bool& quit) {
  auto out =
      filter.filter(std::span(reinterpret_cast<const uint8_t*>(input.data()), input.size()), quit);
  return std::string(out.begin(), out.end());
}

TEST(EscapeFilter, CtrlAXQuitsAndCtrlACtrlASendsOne) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(filtered(filter, "ls\n", quit), "ls\n");
  EXPECT_FALSE(quit);
  EXPECT_EQ(filtered(filter, "a\x01\x01z", quit), "a\x01z");
  EXPECT_FALSE(quit);
  EXPECT_EQ(filtered(filter, "b\x01x", quit), "b");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, SequenceSplitAcrossReads) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(filtered(filter, "q\x01", quit), "q");
  EXPECT_FALSE(quit);
  EXPECT_EQ(filtered(filter, "x", quit), "");
  EXPECT_TRUE(quit);
}

}  // namespace
}  // namespace haven::vmm
