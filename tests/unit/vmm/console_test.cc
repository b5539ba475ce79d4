#include "vmm/console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/sys.h"
#include "vmm/console_log.h"

namespace haven::vmm {
namespace {

std::string run_filter(EscapeFilter& filter, std::string_view input, bool& quit) {
  auto out = filter.filter(bytes_of(input), quit);
  return std::string(out.begin(), out.end());
}

TEST(EscapeFilter, PlainBytesPassUntouched) {
  EscapeFilter filter;
  bool quit = false;
  std::string all;
  for (int byte = 0; byte < 256; ++byte)
    if (byte != EscapeFilter::kEscape) all += static_cast<char>(byte);
  EXPECT_EQ(run_filter(filter, all, quit), all);
  EXPECT_FALSE(quit);
}

TEST(EscapeFilter, CtrlAXQuitsAndCtrlACtrlASendsOne) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "a\x01\x01z", quit), "a\x01z");
  EXPECT_FALSE(quit);
  EXPECT_EQ(run_filter(filter, "b\x01x", quit), "b");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, CtrlAXSplitAcrossReadsQuits) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "q\x01", quit), "q");
  EXPECT_FALSE(quit);
  EXPECT_EQ(run_filter(filter, "x", quit), "");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, UppercaseXQuitsToo) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "\x01X", quit), "");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, BytesAfterTheQuitSequenceAreDropped) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "ab\x01xcd", quit), "ab");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, CtrlAThenAnythingElsePassesBoth) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter,
                       "\x01"
                       "a",
                       quit),
            "\x01"
            "a");
  EXPECT_EQ(run_filter(filter, "\x01\r", quit), "\x01\r");
  EXPECT_EQ(run_filter(filter, "\x01y", quit), "\x01y");
  EXPECT_FALSE(quit);
}

TEST(EscapeFilter, CtrlACtrlASplitAcrossChunksSendsOne) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "a\x01", quit), "a");
  EXPECT_EQ(run_filter(filter,
                       "\x01"
                       "b",
                       quit),
            "\x01"
            "b");
  EXPECT_FALSE(quit);
}

TEST(EscapeFilter, CtrlAThenOtherByteSplitAcrossChunks) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "\x01", quit), "");
  EXPECT_EQ(run_filter(filter, "", quit), "") << "an empty read keeps the escape pending";
  EXPECT_EQ(run_filter(filter, "q", quit), "\x01q");
  EXPECT_FALSE(quit);
}

TEST(EscapeFilter, APendingEscapeSurvivesAnEmptyChunkThenQuits) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "\x01", quit), "");
  EXPECT_EQ(run_filter(filter, "", quit), "");
  EXPECT_EQ(run_filter(filter, "x", quit), "");
  EXPECT_TRUE(quit);
}

TEST(EscapeFilter, EscapesPairUpLeftToRight) {
  EscapeFilter filter;
  bool quit = false;
  // The first two Ctrl-As make one literal Ctrl-A; the third starts a quit.
  EXPECT_EQ(run_filter(filter, "\x01\x01\x01x", quit), "\x01");
  EXPECT_TRUE(quit);

  EscapeFilter other;
  bool other_quit = false;
  // Four Ctrl-As are two literal ones, so the x is just an x.
  EXPECT_EQ(run_filter(other, "\x01\x01\x01\x01x", other_quit), "\x01\x01x");
  EXPECT_FALSE(other_quit);
}

TEST(EscapeFilter, ALiteralCtrlAIsNotAPendingEscape) {
  EscapeFilter filter;
  bool quit = false;
  EXPECT_EQ(run_filter(filter, "\x01\x01", quit), "\x01");
  EXPECT_EQ(run_filter(filter, "x", quit), "x");
  EXPECT_FALSE(quit);
}

// A file or socket path under the test's temporary directory, removed afterwards.
std::string temp_path(std::string_view name) {
  return ::testing::TempDir() + "haven-console-" + std::to_string(::getpid()) + "-" +
         std::string(name);
}

std::string file_contents(const std::string& path) {
  auto data = sys::read_file(path, 1 << 20);
  EXPECT_TRUE(data) << data.error().message();
  return data ? std::string(data->begin(), data->end()) : std::string();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(Console, NoneSwallowsOutputAndHasNoInput) {
  auto console = Console::open({ConsoleConfig::Kind::none, {}});
  ASSERT_TRUE(console) << console.error().message();
  (*console)->write(bytes_of("dropped"));
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  EXPECT_TRUE((*console)->attach_input(*loop, {[](std::span<const uint8_t>) {}, [] {}}));
}

// A console file is appended to: a file named by mistake, or an earlier run's output, is kept.
TEST(Console, FileReceivesOutputAfterWhatItHeld) {
  std::string path = temp_path("file.log");
  {
    auto fd = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(sys::write_all(fd->get(), bytes_of("kept\n")));
  }
  {
    auto console = Console::open({ConsoleConfig::Kind::file, path});
    ASSERT_TRUE(console) << console.error().message();
    (*console)->write(bytes_of("Linux version"));
    (*console)->write(bytes_of(" 6.1\r\n"));
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    EXPECT_TRUE((*console)->attach_input(*loop, {[](std::span<const uint8_t>) {}, [] {}}));
  }
  EXPECT_EQ(file_contents(path), "kept\nLinux version 6.1\r\n");
  ::unlink(path.c_str());
}

// The log holds at most two files of the limit: the older part becomes LOG.1, and a new run
// starts both afresh. Its tail reads across the two.
TEST(Console, ALogBecomesItsPreviousPartAtItsLimit) {
  std::string log = temp_path("limited.log");
  {
    auto fd = sys::open(previous_console_log(log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(sys::write_all(fd->get(), bytes_of("an earlier run's")));
  }
  {
    auto console = Console::open({ConsoleConfig::Kind::none, {}}, log, 10);
    ASSERT_TRUE(console) << console.error().message();
    EXPECT_FALSE(exists(previous_console_log(log)));
    (*console)->write(bytes_of("0123456"));
    (*console)->write(bytes_of("789"));
    EXPECT_FALSE(exists(previous_console_log(log)));
    (*console)->write(bytes_of("abc"));
    EXPECT_EQ(file_contents(previous_console_log(log)), "0123456789");
    EXPECT_EQ(file_contents(log), "abc");
    (*console)->write(bytes_of("defghij"));
    (*console)->write(bytes_of("kl"));
    EXPECT_EQ(file_contents(previous_console_log(log)), "abcdefghij");
    EXPECT_EQ(file_contents(log), "kl");
  }
  EXPECT_EQ(read_console_log_tail(log, 1).value_or("?"), "l");
  EXPECT_EQ(read_console_log_tail(log, 5).value_or("?"), "hijkl");
  EXPECT_EQ(read_console_log_tail(log, 100).value_or("?"), "abcdefghijkl");
  EXPECT_EQ(read_console_log_tail(temp_path("no-such.log"), 100).value_or("?"), "");
  ::unlink(log.c_str());
  ::unlink(previous_console_log(log).c_str());
}

TEST(Console, ALogGetsEveryByteTheConsoleGets) {
  std::string file = temp_path("serial.out"), log = temp_path("serial.log");
  {
    auto console = Console::open({ConsoleConfig::Kind::file, file}, log);
    ASSERT_TRUE(console) << console.error().message();
    (*console)->write(bytes_of("boot "));
    (*console)->write(bytes_of("done\n"));
  }
  EXPECT_EQ(file_contents(file), "boot done\n");
  EXPECT_EQ(file_contents(log), "boot done\n");
  auto missing = Console::open({ConsoleConfig::Kind::none, {}},
                               std::string("/nonexistent-haven-dir/console.log"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("console log"), std::string::npos);
  ::unlink(file.c_str());
  ::unlink(log.c_str());
}

TEST(Console, AFileInAMissingDirectoryIsAClearError) {
  auto console = Console::open({ConsoleConfig::Kind::file, "/nonexistent-haven-dir/console.log"});
  ASSERT_FALSE(console);
  EXPECT_EQ(console.error().message(),
            "console file: open /nonexistent-haven-dir/console.log: No such file or directory");
  EXPECT_EQ(console.error().code(), ENOENT);
}

TEST(Console, ASocketPathThatIsAFileIsLeftAlone) {
  std::string path = temp_path("not-a-socket");
  {
    auto fd = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(sys::write_all(fd->get(), bytes_of("precious")));
  }
  auto console = Console::open({ConsoleConfig::Kind::socket, path});
  ASSERT_FALSE(console);
  EXPECT_EQ(console.error().message(), "console socket: " + path + ": exists and is not a socket");
  EXPECT_EQ(file_contents(path), "precious");
  ::unlink(path.c_str());
}

TEST(Console, ASocketPathTooLongForSunPathIsRefused) {
  std::string path = "/tmp/" + std::string(sizeof(sockaddr_un::sun_path), 'p');
  auto console = Console::open({ConsoleConfig::Kind::socket, path});
  ASSERT_FALSE(console);
  EXPECT_EQ(console.error().message(),
            "console socket: socket path " + path + " is too long (107 bytes at most)");
}

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);
  return fd;
}

// What has already arrived on `fd`, without waiting for more; "<eof>" once the peer closed.
std::string received(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      text.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) text += "<eof>";
    return text;
  }
}

void send_text(int fd, std::string_view text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// A socket console with its event loop, a record of what the guest was given, and a watchdog
// that fails the test (rather than hanging it) should the loop never reach its goal.
class SocketConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_path = temp_path("console.sock");
    ::unlink(m_path.c_str());
    auto console = Console::open({ConsoleConfig::Kind::socket, m_path});
    ASSERT_TRUE(console) << console.error().message();
    m_console = std::move(*console);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    m_loop = std::make_unique<EventLoop>(std::move(*loop));
    ASSERT_TRUE(m_console->attach_input(*m_loop, {[this](std::span<const uint8_t> bytes) {
                                                    m_typed.append(bytes.begin(), bytes.end());
                                                  },
                                                  [this] { ++m_quits; }}));
    m_watchdog = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    ASSERT_TRUE(m_watchdog);
    itimerspec deadline{};
    deadline.it_value.tv_sec = 20;
    ASSERT_EQ(::timerfd_settime(m_watchdog.get(), 0, &deadline, nullptr), 0);
    ASSERT_TRUE(m_loop->add(m_watchdog.get(), [this] { m_timed_out = true; }));
  }

  void TearDown() override {
    m_console.reset();
    ::unlink(m_path.c_str());
  }

  // Runs the console's input handling until the guest has been given `typed` in total.
  void run_until_typed(std::string_view typed) {
    auto result = m_loop->run_until([&] { return m_timed_out || m_typed.size() >= typed.size(); });
    ASSERT_TRUE(result) << result.error().message();
    ASSERT_FALSE(m_timed_out) << "the guest never got '" << typed << "', only '" << m_typed << "'";
    EXPECT_EQ(m_typed, typed);
  }

  void write(std::string_view text) { m_console->write(bytes_of(text)); }

  std::string m_path;
  std::unique_ptr<Console> m_console;
  std::unique_ptr<EventLoop> m_loop;
  std::string m_typed;
  int m_quits = 0;

 private:
  UniqueFd m_watchdog;
  bool m_timed_out = false;
};

TEST_F(SocketConsoleTest, AClientGetsTheHistoryThenTheLiveStreamAndMayType) {
  write("boot log, ");
  write("more log");
  UniqueFd client = connect_to(m_path);
  send_text(client.get(), "root\n");
  run_until_typed("root\n");
  EXPECT_EQ(received(client.get()), "boot log, more log");
  write("# ");
  EXPECT_EQ(received(client.get()), "# ");
}

TEST_F(SocketConsoleTest, TheEscapeSequenceIsForTheTerminalNotTheSocket) {
  UniqueFd client = connect_to(m_path);
  send_text(client.get(), "\x01x");
  run_until_typed("\x01x");
  EXPECT_EQ(m_quits, 0);
}

TEST_F(SocketConsoleTest, ANewClientReplacesTheOld) {
  write("history ");
  UniqueFd first = connect_to(m_path);
  send_text(first.get(), "1");
  run_until_typed("1");
  EXPECT_EQ(received(first.get()), "history ");
  write("live ");
  EXPECT_EQ(received(first.get()), "live ");

  UniqueFd second = connect_to(m_path);
  send_text(second.get(), "2");
  run_until_typed("12");
  EXPECT_EQ(received(second.get()), "history live ");
  EXPECT_EQ(received(first.get()), "<eof>") << "the first client was disconnected";
  write("only for two");
  EXPECT_EQ(received(second.get()), "only for two");
}

TEST_F(SocketConsoleTest, HistoryKeepsTheLast64KiB) {
  std::string output;
  for (size_t i = 0; output.size() < 64 * 1024 + 1000; ++i) output += std::to_string(i) + ",";
  // In uneven pieces, so trimming happens across several writes.
  for (size_t at = 0; at < output.size(); at += 777)
    write(std::string_view(output).substr(at, 777));
  UniqueFd client = connect_to(m_path);
  send_text(client.get(), "k");
  run_until_typed("k");
  std::string history = received(client.get());
  ASSERT_EQ(history.size(), 64u * 1024);
  EXPECT_EQ(history, output.substr(output.size() - 64 * 1024));
}

TEST_F(SocketConsoleTest, OutputAfterTheClientLeftDoesNotKillUs) {
  UniqueFd client = connect_to(m_path);
  send_text(client.get(), "bye");
  run_until_typed("bye");
  client.reset();
  // Without MSG_NOSIGNAL this send would raise SIGPIPE and end the test binary.
  write("anyone there?");
  write("still writing");
  // The console carries on: the next client gets what was written meanwhile.
  UniqueFd next = connect_to(m_path);
  send_text(next.get(), "!");
  run_until_typed("bye!");
  EXPECT_NE(received(next.get()).find("anyone there?still writing"), std::string::npos);
}

TEST_F(SocketConsoleTest, ThePathIsRemovedWithTheConsole) {
  EXPECT_TRUE(exists(m_path));
  m_console.reset();
  EXPECT_FALSE(exists(m_path));
}

TEST(Console, AStaleSocketFromAnEarlierRunIsReplaced) {
  std::string path = temp_path("stale.sock");
  ::unlink(path.c_str());
  {
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof(address.sun_path) - 1);
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  }  // closed, but the socket file stays behind
  ASSERT_TRUE(exists(path));
  auto console = Console::open({ConsoleConfig::Kind::socket, path});
  ASSERT_TRUE(console) << console.error().message();
  UniqueFd client = connect_to(path);  // the new listener answers
  console->reset();
  EXPECT_FALSE(exists(path));
}

}  // namespace
}  // namespace haven::vmm
