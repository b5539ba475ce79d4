#include "base/uring.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <thread>

namespace haven {
namespace {

TEST(Uring, ARingEnabledOnItsThreadReadsAFile) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(::write(pipe_fds[1], "haven", 5), 5);
  auto uring = Uring::create(8);
  ASSERT_TRUE(uring) << uring.error().message();
  std::array<char, 8> buffer{};
  int result = -1;
  // The thread that enables the ring is the one allowed to submit to it.
  std::thread([&] {
    ASSERT_TRUE((*uring)->enable());
    io_uring* ring = (*uring)->get();
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    ASSERT_NE(sqe, nullptr);
    io_uring_prep_read(sqe, pipe_fds[0], buffer.data(), buffer.size(), 0);
    io_uring_sqe_set_data64(sqe, 42);
    ASSERT_EQ(io_uring_submit_and_wait(ring, 1), 1);
    io_uring_cqe* cqe = nullptr;
    ASSERT_EQ(io_uring_peek_cqe(ring, &cqe), 0);
    EXPECT_EQ(io_uring_cqe_get_data64(cqe), 42u);
    result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
  }).join();
  EXPECT_EQ(result, 5);
  EXPECT_EQ(std::memcmp(buffer.data(), "haven", 5), 0);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(Uring, AnImpossibleSizeIsAnErrorNamingTheCall) {
  auto uring = Uring::create(1u << 20);  // above the kernel's limit of 32768 entries
  ASSERT_FALSE(uring);
  EXPECT_NE(uring.error().message().find("io_uring_queue_init"), std::string::npos)
      << uring.error().message();
}

}  // namespace
}  // namespace haven
