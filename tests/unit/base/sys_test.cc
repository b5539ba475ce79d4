#include "base/sys.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "support/host_probes.h"

namespace haven {
namespace {

// A file under the test's temporary directory, removed again when the test ends.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    m_path = ::testing::TempDir() + "haven-sys-test-XXXXXX";
    int fd = ::mkstemp(m_path.data());
    EXPECT_GE(fd, 0) << m_path;
    UniqueFd owner(fd);
    EXPECT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { ::unlink(m_path.c_str()); }
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(SysOpen, MissingFileNamesThePathAndErrno) {
  auto fd = sys::open("/nonexistent-haven-dir/file", O_RDONLY);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code(), ENOENT);
  EXPECT_EQ(fd.error().message(), "open /nonexistent-haven-dir/file: No such file or directory");
}

TEST(SysOpen, DescriptorsAreCloseOnExec) {
  auto fd = sys::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  int flags = ::fcntl(fd->get(), F_GETFD);
  ASSERT_NE(flags, -1);
  EXPECT_TRUE(flags & FD_CLOEXEC);
}

TEST(SysOpen, CreatesWithTheGivenMode) {
  std::string path = ::testing::TempDir() + "haven-sys-test-created";
  ::unlink(path.c_str());
  auto fd = sys::open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_TRUE(fd) << fd.error().message();
  auto again = sys::open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), EEXIST);
  EXPECT_NE(again.error().message().find(path), std::string::npos) << again.error().message();
  ::unlink(path.c_str());
}

TEST(SysDirectories, MakeRefusesAnExistingOneEnsureAcceptsIt) {
  std::string path = ::testing::TempDir() + "haven-sys-test-dir." + std::to_string(::getpid());
  ::rmdir(path.c_str());
  ASSERT_TRUE(sys::make_directory(path, 0700));
  auto again = sys::make_directory(path, 0700);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), EEXIST);
  EXPECT_NE(again.error().message().find(path), std::string::npos);
  EXPECT_TRUE(sys::ensure_directory(path, 0700));
  EXPECT_FALSE(sys::ensure_directory(path + "/no/such/parent", 0700));
  ::rmdir(path.c_str());
}

TEST(SysImageSize, AFilesSizeOrAnErrorForOtherKinds) {
  std::string path = ::testing::TempDir() + "haven-sys-test-image." + std::to_string(::getpid());
  auto file = sys::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(file);
  ASSERT_EQ(::ftruncate(file->get(), 12345), 0);
  auto size = sys::image_size(file->get(), path);
  ASSERT_TRUE(size) << size.error().message();
  EXPECT_EQ(*size, 12345u);
  ::unlink(path.c_str());
  auto directory = sys::open(::testing::TempDir(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(directory);
  auto refused = sys::image_size(directory->get(), "the-dir");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(), "the-dir is neither a file nor a block device");
}

TEST(SysZeroRange, TheRangeReadsAsZerosTheRestAndTheSizeStay) {
  TempFile file(std::string(3 * 4096, 'x'));
  auto fd = sys::open(file.path(), O_RDWR);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(sys::zero_range(fd->get(), 4096, 4096, file.path()));
  auto bytes = sys::read_file(file.path(), 1 << 20);
  ASSERT_TRUE(bytes);
  ASSERT_EQ(bytes->size(), 3u * 4096);
  for (size_t i = 0; i < bytes->size(); ++i)
    ASSERT_EQ((*bytes)[i], i / 4096 == 1 ? 0 : 'x') << "byte " << i;
  // Not a file: an error that names it.
  Pipe pipe = make_pipe();
  auto refused = sys::zero_range(pipe.write.get(), 0, 4096, "the-pipe");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("the-pipe"), std::string::npos)
      << refused.error().message();
}

TEST(SysReadUntilEnd, ReadsProcFilesWhoseSizeIsZero) {
  auto status = sys::read_until_end("/proc/self/status", 1 << 20);
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_NE(status->find("VmRSS:"), std::string::npos);
  auto limited = sys::read_until_end("/proc/self/status", 10);
  ASSERT_FALSE(limited);
  EXPECT_NE(limited.error().message().find("limit of 10 bytes"), std::string::npos);
  EXPECT_FALSE(sys::read_until_end("/proc/self/no-such-file", 100));
}

TEST(SysImmutable, AnImmutableFileCannotBeRemovedUntilCleared) {
  TempFile file("kept");
  auto set = sys::set_immutable(file.path(), true);
  ASSERT_TRUE(set) << set.error().message();
  if (!*set) {
    ASSERT_FALSE(testing::host_allows_immutable(file.path()))
        << "this host allows chattr +i, sys::set_immutable said it does not";
    GTEST_SKIP() << "chattr +i is not allowed here (needs CAP_LINUX_IMMUTABLE)";
  }
  EXPECT_TRUE(sys::is_immutable(file.path()));
  EXPECT_NE(::unlink(file.path().c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_FALSE(sys::open(file.path(), O_WRONLY)) << "not even opened for writing";
  ASSERT_TRUE(sys::set_immutable(file.path(), false).value());
  EXPECT_FALSE(sys::is_immutable(file.path()));
}

TEST(SysImmutable, AMissingFileIsAnErrorNotARefusal) {
  auto missing = sys::set_immutable(::testing::TempDir() + "haven-no-such-file", true);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("haven-no-such-file"), std::string::npos);
  EXPECT_FALSE(sys::is_immutable(::testing::TempDir() + "haven-no-such-file"));
}

TEST(SysReadFile, ReadsTheWholeFile) {
  std::string contents(10000, '\0');
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>(i * 7);
  TempFile file(contents);
  auto data = sys::read_file(file.path(), contents.size());  // exactly at the limit
  ASSERT_TRUE(data) << data.error().message();
  EXPECT_EQ(std::string(data->begin(), data->end()), contents);
}

TEST(SysReadFile, EmptyFileGivesNoBytes) {
  TempFile file("");
  auto data = sys::read_file(file.path(), 0);
  ASSERT_TRUE(data) << data.error().message();
  EXPECT_TRUE(data->empty());
}

TEST(SysReadFile, OneByteOverTheLimitIsRefused) {
  TempFile file("12345");
  auto data = sys::read_file(file.path(), 4);
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().message(), file.path() + ": 5 bytes is larger than the limit of 4 bytes");
}

// A FIFO is refused at once (opening one for reading waits for a writer: a FIFO given as a
// kernel, an initrd or a backup source hung for ever).
TEST(SysReadFile, AFifoIsRefusedWithoutWaitingForAWriter) {
  std::string path = ::testing::TempDir() + "haven-sys-fifo-XXXXXX";
  int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  ::close(fd);
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto data = sys::read_file(path, 1 << 20);
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().message(), path + " is a FIFO, not a regular file");
  auto image = sys::open_data_file(path, O_RDONLY, true);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().message(), path + " is a FIFO, not a regular file or a block device");
  ::unlink(path.c_str());
  // A regular file opened so is blocking, as asked.
  TempFile file("data");
  auto opened = sys::open_data_file(file.path(), O_RDONLY);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(::fcntl(opened->get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(SysReadFile, DirectoriesAndMissingFilesAreRefused) {
  auto directory = sys::read_file("/", 1 << 20);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().message(), "/ is a directory, not a regular file");

  auto missing = sys::read_file("/nonexistent-haven-file", 1 << 20);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ENOENT);
  EXPECT_NE(missing.error().message().find("/nonexistent-haven-file"), std::string::npos);
}

TEST(SysReadAtWriteAt, PositionalWholeTransfersAndEndOfFileIsAnError) {
  TempFile file("0123456789");
  auto fd = sys::open(file.path(), O_RDWR);
  ASSERT_TRUE(fd);
  const uint8_t patch[] = {'a', 'b'};
  ASSERT_TRUE(sys::write_at(fd->get(), patch, 4));
  std::array<uint8_t, 4> got{};
  ASSERT_TRUE(sys::read_at(fd->get(), got, 3));
  EXPECT_EQ(std::string(got.begin(), got.end()), "3ab6");
  auto past = sys::read_at(fd->get(), got, 8);
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().message().find("end of file at 10 (2 of 4 bytes read)"), std::string::npos)
      << past.error().message();
}

TEST(SysWriteAllReadSome, BytesGoThroughAPipe) {
  Pipe pipe = make_pipe();
  ASSERT_TRUE(sys::write_all(pipe.write.get(), bytes_of("hello")));
  uint8_t buffer[16];
  auto n = sys::read_some(pipe.read.get(), buffer);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(std::string(buffer, buffer + *n), "hello");
}

TEST(SysWriteAllReadSome, ReadSomeIsBoundedByTheBuffer) {
  Pipe pipe = make_pipe();
  ASSERT_TRUE(sys::write_all(pipe.write.get(), bytes_of("abcdef")));
  uint8_t buffer[4];
  auto n = sys::read_some(pipe.read.get(), buffer);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(std::string(buffer, buffer + 4), "abcd");
}

TEST(SysWriteAllReadSome, EndOfFileReadsZero) {
  Pipe pipe = make_pipe();
  pipe.write.reset();
  uint8_t buffer[4];
  auto n = sys::read_some(pipe.read.get(), buffer);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u);
}

TEST(SysWriteAllReadSome, ErrorsNameTheFd) {
  Pipe pipe = make_pipe();
  uint8_t buffer[4];
  auto read = sys::read_some(pipe.write.get(), buffer);  // the write end cannot be read
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), EBADF);
  EXPECT_EQ(read.error().message(),
            "read from fd " + std::to_string(pipe.write.get()) + ": Bad file descriptor");

  auto write = sys::write_all(pipe.read.get(), bytes_of("x"));
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code(), EBADF);
  EXPECT_EQ(write.error().message(),
            "write to fd " + std::to_string(pipe.read.get()) + ": Bad file descriptor");
}

TEST(SysWriteAllReadSome, WriteAllOfNothingSucceedsWithoutWriting) {
  EXPECT_TRUE(sys::write_all(-1, {}));
}

TEST(SysEventfd, CountsAndIsCloseOnExec) {
  auto fd = sys::eventfd(3, EFD_NONBLOCK);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK);
  uint64_t value = 0;
  ASSERT_EQ(::read(fd->get(), &value, sizeof(value)), 8);
  EXPECT_EQ(value, 3u);
  EXPECT_EQ(::read(fd->get(), &value, sizeof(value)), -1) << "drained and non-blocking";
  EXPECT_EQ(errno, EAGAIN);
}

TEST(SysEventfd, BadFlagsAreAnError) {
  auto fd = sys::eventfd(0, -1);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code(), EINVAL);
  EXPECT_EQ(fd.error().message(), "eventfd: Invalid argument");
}

TEST(SysIoctl, ErrorsCarryTheGivenName) {
  auto fd = sys::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd);
  int queued = 0;
  auto result = sys::ioctl(fd->get(), TIOCOUTQ, &queued, "TIOCOUTQ");  // /dev/null is no tty
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ENOTTY);
  EXPECT_EQ(result.error().message().rfind("TIOCOUTQ: ", 0), 0u) << result.error().message();
}

TEST(SysIoctl, SuccessReturnsTheIoctlsValue) {
  Pipe pipe = make_pipe();
  ASSERT_TRUE(sys::write_all(pipe.write.get(), bytes_of("abc")));
  int available = -1;
  auto result = sys::ioctl(pipe.read.get(), FIONREAD, &available, "FIONREAD");
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(*result, 0);
  EXPECT_EQ(available, 3);
}

TEST(ListDirectory, NamesSortedWithoutDotsAndMissingIsAnError) {
  std::string dir = ::testing::TempDir() + "haven-sys-list-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  for (const char* name : {"b", "a", "c.json"}) {
    int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  auto names = sys::list_directory(dir);
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c.json"}));
  for (const char* name : {"b", "a", "c.json"}) ::unlink((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
  auto missing = sys::list_directory(dir);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ENOENT);
  EXPECT_NE(missing.error().message().find(dir), std::string::npos);
}

}  // namespace
}  // namespace haven

namespace haven {
namespace {

TEST(SysFiles, ExistsResizeStatRenameAndRemove) {
  std::string dir = ::testing::TempDir() + "haven-sys-files." + std::to_string(::getpid());
  ASSERT_TRUE(sys::ensure_directory(dir, 0700));
  std::string path = dir + "/a", moved = dir + "/b";
  EXPECT_EQ(sys::exists(path), false);
  auto fd = sys::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_TRUE(fd);
  EXPECT_EQ(sys::exists(path), true);
  ASSERT_TRUE(sys::resize(fd->get(), 1 << 20, path));
  auto st = sys::stat_fd(fd->get(), path);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_size, 1 << 20);
  ASSERT_TRUE(sys::sync_data(fd->get(), path));
  ASSERT_TRUE(sys::sync_all(fd->get(), path));
  ASSERT_TRUE(sys::rename(path, moved));
  EXPECT_EQ(sys::exists(path), false);
  EXPECT_EQ(sys::stat_path(moved)->st_size, 1 << 20);
  ASSERT_TRUE(sys::remove_file(moved));
  auto again = sys::remove_file(moved);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find(moved), std::string::npos);
  EXPECT_TRUE(sys::remove_file(moved, true)) << "missing is fine when asked";
  auto renamed = sys::rename(path, moved);
  ASSERT_FALSE(renamed);
  EXPECT_NE(renamed.error().message().find(path), std::string::npos);
  // Below a regular file: neither there nor missing, an error.
  ASSERT_TRUE(sys::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  auto below = sys::exists(path + "/x");
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code(), ENOTDIR);
  EXPECT_FALSE(sys::stat_path(dir + "/none"));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

// A repository keeps a descriptor per pack: the soft limit goes up to the hard one.
TEST(Sys, TheOpenFileLimitIsRaisedToTheHardLimit) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max < 2048) GTEST_SKIP() << "a hard limit of " << saved.rlim_max;
  rlimit low = saved;
  low.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  sys::raise_open_file_limit();
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, std::min<rlim_t>(saved.rlim_max, rlim_t{1} << 20));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

}  // namespace
}  // namespace haven
