#include "vmm/control_socket.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/sys.h"
#include "base/unix_socket.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Long enough never to decide a passing test; it only turns a hang into a failure.
constexpr auto kGenerous = 10s;

// Sends `bytes` on a fresh connection (closing the sending side when `close_write`) and reads
// the answer until the VMM closes the connection.
std::string raw_exchange(const std::string& path, const std::string& bytes, bool close_write) {
  auto fd = connect_unix(path);
  EXPECT_TRUE(fd) << fd.error().message();
  if (!fd) return "";
  EXPECT_EQ(::send(fd->get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  if (close_write) ::shutdown(fd->get(), SHUT_WR);
  std::string answer;
  for (;;) {
    pollfd entry{fd->get(), POLLIN, 0};
    if (::poll(&entry, 1, static_cast<int>(std::chrono::milliseconds(kGenerous).count())) != 1) {
      ADD_FAILURE() << "no answer to '" << bytes << "'";
      return answer;
    }
    char buffer[4096];
    ssize_t n = ::read(fd->get(), buffer, sizeof(buffer));
    if (n <= 0) return answer;
    answer.append(buffer, static_cast<size_t>(n));
  }
}

// A control socket served by an event loop on its own thread, as haven-vmm's main thread
// serves it. The handler echoes, fails or stops the loop as the request's "op" says.
class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-control-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
    m_path = m_dir + "/control";
    auto socket = ControlSocket::open(m_path);
    ASSERT_TRUE(socket) << socket.error().message();
    m_socket = std::move(*socket);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop) << loop.error().message();
    m_loop = std::make_unique<EventLoop>(std::move(*loop));
    ASSERT_TRUE(m_socket->attach(*m_loop, [this](const json& request) { return handle(request); }));
    // The test's way to end the loop whatever the test did.
    auto stop = sys::eventfd(0, EFD_NONBLOCK);
    ASSERT_TRUE(stop);
    m_stop = std::move(*stop);
    ASSERT_TRUE(m_loop->add(m_stop.get(), [this] { m_done = true; }));
    std::promise<void> ended;
    m_ended = ended.get_future();
    m_thread = std::jthread([this, ended = std::move(ended)]() mutable {
      auto result = m_loop->run_until([this] { return m_done; });
      EXPECT_TRUE(result) << result.error().message();
      ended.set_value();
    });
  }
  void TearDown() override {
    if (m_thread.joinable()) {
      ::eventfd_write(m_stop.get(), 1);
      m_thread.join();
    }
    m_socket.reset();
    std::filesystem::remove_all(m_dir);
  }

  // On the loop thread.
  json handle(const json& request) {
    {
      std::lock_guard lock(m_mutex);
      m_requests.push_back(request);
    }
    std::string op = request.at("op");  // a request without "op" throws, as a real one may
    if (op == "echo") return {{"ok", true}, {"echo", request}};
    if (op == "fail") return {{"error", "the guest is not running"}};
    if (op == "busy")
      return control_error_answer(
          field_error(ErrorKind::conflict, "state", "disk 0 is still being restored").error());
    if (op == "quit") {
      m_done = true;
      return {{"ok", true}};
    }
    return {{"error", "unknown op " + op}};
  }
  bool loop_ended(std::chrono::milliseconds timeout) {
    return m_ended.wait_for(timeout) == std::future_status::ready;
  }
  std::vector<json> requests() {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }

  std::string m_dir;
  std::string m_path;
  std::unique_ptr<ControlSocket> m_socket;
  std::unique_ptr<EventLoop> m_loop;
  UniqueFd m_stop;
  bool m_done = false;  // loop thread only
  std::mutex m_mutex;
  std::vector<json> m_requests;
  std::future<void> m_ended;
  std::jthread m_thread;
};

TEST_F(ControlSocketTest, TheSocketIsForItsOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::lstat(m_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ControlSocketTest, ARequestGetsTheHandlersAnswer) {
  auto answer = control_request(m_path, {{"op", "echo"}, {"n", 5}}, kGenerous);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ((*answer)["ok"], true);
  EXPECT_EQ((*answer)["echo"], json({{"op", "echo"}, {"n", 5}}));
  ASSERT_EQ(requests().size(), 1u);
  EXPECT_EQ(requests()[0]["n"], 5);
}

TEST_F(ControlSocketTest, OneRequestPerConnectionManyTimesOver) {
  for (int i = 0; i < 5; ++i) {
    auto answer = control_request(m_path, {{"op", "echo"}, {"i", i}}, kGenerous);
    ASSERT_TRUE(answer) << answer.error().message();
    EXPECT_EQ((*answer)["echo"]["i"], i);
  }
  EXPECT_EQ(requests().size(), 5u);
}

TEST_F(ControlSocketTest, AnErrorAnswerBecomesAnError) {
  auto answer = control_request(m_path, {{"op", "fail"}}, kGenerous);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().message(), "the guest is not running");
}

TEST_F(ControlSocketTest, AnErrorKeepsItsKindAndFieldAcrossTheSocket) {
  auto answer = control_request(m_path, {{"op", "busy"}}, kGenerous);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().message(), "state: disk 0 is still being restored");
  EXPECT_EQ(answer.error().kind(), ErrorKind::conflict);
  EXPECT_EQ(answer.error().field(), "state");
  auto plain = control_request(m_path, {{"op", "fail"}}, kGenerous);
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().kind(), ErrorKind::internal);
}

TEST_F(ControlSocketTest, AHandlerRejectingTheRequestsShapeAnswersAnError) {
  auto answer = control_request(m_path, {{"no_op", 1}}, kGenerous);
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message().find("bad request"), std::string::npos)
      << answer.error().message();
  EXPECT_TRUE(control_request(m_path, {{"op", "echo"}}, kGenerous)) << "the loop still serves";
}

TEST_F(ControlSocketTest, ARequestThatIsNotAJsonObjectGetsAnErrorAnswer) {
  for (const std::string& request :
       {std::string("hello\n"), std::string("[1, 2]\n"), std::string("{\"op\": \"echo\"\n")}) {
    std::string answer = raw_exchange(m_path, request, false);
    ASSERT_FALSE(answer.empty()) << request;
    EXPECT_EQ(answer.back(), '\n') << "one line";
    json parsed = json::parse(answer, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << answer;
    EXPECT_EQ(parsed["error"], "the request is not a JSON object on one line");
  }
  EXPECT_TRUE(requests().empty()) << "the handler never saw them";
}

TEST_F(ControlSocketTest, ARequestEndedByClosingInsteadOfANewlineIsServed) {
  std::string answer = raw_exchange(m_path, R"({"op": "echo", "x": "y"})", true);
  json parsed = json::parse(answer, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << answer;
  EXPECT_EQ(parsed["echo"]["x"], "y");
}

TEST_F(ControlSocketTest, ARequestOver64KiBIsDroppedAndTheSocketServesOn) {
  // 70000 bytes without a newline: the VMM stops reading past 64 KiB and closes, without
  // handing anything to the handler.
  std::string answer = raw_exchange(m_path, std::string(70000, 'x'), false);
  EXPECT_EQ(answer, "");
  EXPECT_TRUE(requests().empty());
  // A whole JSON request just as long: the same.
  json big = {{"op", "echo"}, {"pad", std::string(70000, 'y')}};
  EXPECT_EQ(raw_exchange(m_path, big.dump() + "\n", false), "");
  EXPECT_TRUE(requests().empty());
  auto next = control_request(m_path, {{"op", "echo"}}, kGenerous);
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ((*next)["ok"], true);
}

// A client that connects and says nothing is given up on after the request timeout (2 s); the
// requests behind it are then served.
TEST_F(ControlSocketTest, ASilentClientDoesNotStopTheSocket) {
  auto silent = connect_unix(m_path);
  ASSERT_TRUE(silent) << silent.error().message();
  auto answer = control_request(m_path, {{"op", "echo"}, {"after", "silence"}}, kGenerous);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ((*answer)["echo"]["after"], "silence");
  // The silent one got nothing and was closed.
  pollfd entry{silent->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&entry, 1, 0), 1);
  char byte = 0;
  EXPECT_EQ(::read(silent->get(), &byte, 1), 0);
}

TEST_F(ControlSocketTest, TheHandlerCanEndTheLoop) {
  auto answer = control_request(m_path, {{"op", "quit"}}, kGenerous);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_TRUE(loop_ended(kGenerous));
}

TEST(ControlSocket, RemovesItsSocketFileAndRefusesOtherFiles) {
  std::string dir = ::testing::TempDir() + "haven-control-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string path = dir + "/control";
  {
    auto socket = ControlSocket::open(path);
    ASSERT_TRUE(socket) << socket.error().message();
    EXPECT_TRUE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "removed with the ControlSocket";
  std::ofstream(path) << "not a socket";
  auto refused = ControlSocket::open(path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("control socket"), std::string::npos)
      << refused.error().message();
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  std::filesystem::remove_all(dir);
}

// A listener that answers the next connection with `answer`, on a thread of its own.
std::jthread answer_once(int listener, std::string answer) {
  return std::jthread([listener, answer] {
    // The listener does not block: wait for the client's connection before accepting it.
    pollfd connecting{listener, POLLIN, 0};
    if (::poll(&connecting, 1, 10'000) != 1) return;
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    char buffer[4096];
    (void)::read(client, buffer, sizeof(buffer));  // the request: one short line
    (void)::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(client);
  });
}

TEST(ControlRequest, AnAnswerThatIsNotAJsonObjectIsAnError) {
  std::string dir = ::testing::TempDir() + "haven-control-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto listener = listen_unix(dir + "/vmm", 1);
  ASSERT_TRUE(listener) << listener.error().message();
  struct Case {
    std::string answer, error;
  };
  for (const Case& test : std::vector<Case>{
           {"hello\n", "not JSON"},
           {"[1, 2]\n", "not an object"},
           {"\"text\"\n", "not an object"},
           {"", "not JSON"},  // closed without a word
           {std::string(70000, ' ') + "{}\n", "longer than"},
       }) {
    auto server = answer_once(listener->get(), test.answer);
    auto answer = control_request(dir + "/vmm", {{"op", "status"}}, kGenerous);
    server.join();
    ASSERT_FALSE(answer) << "answer '" << test.answer.substr(0, 20) << "'";
    EXPECT_NE(answer.error().message().find(test.error), std::string::npos)
        << answer.error().message();
  }
  std::filesystem::remove_all(dir);
}

TEST(ControlRequest, NobodyListeningOrAnsweringIsAnError) {
  std::string dir = ::testing::TempDir() + "haven-control-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  EXPECT_FALSE(control_request(dir + "/none", {{"op", "status"}}, kGenerous));
  // A listener that never accepts: the request times out instead of hanging.
  auto silent = listen_unix(dir + "/silent", 1);
  ASSERT_TRUE(silent) << silent.error().message();
  auto answer = control_request(dir + "/silent", {{"op", "status"}}, 100ms);
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message().find("timed out"), std::string::npos)
      << answer.error().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace haven::vmm
