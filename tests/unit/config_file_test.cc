// Reading the config file: only a regular file, bounded, never waited on. A
// FIFO, a device or a directory named as the config is an error at once.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "pathwatch/config.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pathwatch-config-file-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Loads on another thread so a blocking open or read fails the test
  // instead of hanging it; returns the error problem, "" when it loaded.
  std::string loadProblem(const std::string& path) {
    auto result = std::async(std::launch::async, [path]() -> std::string {
      try {
        loadConfigFile(path);
        return "";
      } catch (const ConfigError& e) {
        EXPECT_EQ(e.file, path);
        EXPECT_EQ(e.key_path, "");
        return e.problem;
      }
    });
    if (result.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "loadConfigFile blocked on " << path;
      std::_Exit(1);  // the worker is stuck in a syscall: nothing to join
    }
    return result.get();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigFile, FifoIsRefusedAtOnce) {
  const std::string fifo = (dir_ / "config.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string problem = loadProblem(fifo);  // no writer: a blocking open would hang
  EXPECT_NE(problem.find("not a regular file"), std::string::npos) << problem;
}

TEST_F(ConfigFile, FifoWithAWriterIsRefusedToo) {
  const std::string fifo = (dir_ / "config.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A writer that never writes: a read would wait for it forever.
  const int w = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(w, 0);
  const std::string problem = loadProblem(fifo);
  ::close(w);
  EXPECT_NE(problem.find("not a regular file"), std::string::npos) << problem;
}

TEST_F(ConfigFile, DevicesAndSocketsAreRefused) {
  EXPECT_NE(loadProblem("/dev/zero").find("not a regular file"), std::string::npos);
  EXPECT_NE(loadProblem("/dev/null").find("not a regular file"), std::string::npos);
  const std::string sock = (dir_ / "s").string();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string problem = loadProblem(sock);
  ::close(fd);
  EXPECT_FALSE(problem.empty());  // open() itself fails on a socket: still a ConfigError
}

TEST_F(ConfigFile, DirectoryIsRefused) {
  EXPECT_NE(loadProblem(dir_.string()).find("directory"), std::string::npos);
}

TEST_F(ConfigFile, SizeIsBounded) {
  const std::string big = (dir_ / "big.json").string();
  {
    std::ofstream out(big);
    out << "{\"interval\": \"60s\"" << std::string(kMaxConfigBytes, ' ') << "}";
  }
  EXPECT_NE(loadProblem(big).find("larger than 1 MiB"), std::string::npos);
  // A sparse file claiming a huge size is refused before anything is read.
  const std::string sparse = (dir_ / "sparse.json").string();
  {
    std::ofstream out(sparse);
  }
  ASSERT_EQ(::truncate(sparse.c_str(), 1ll << 40), 0);
  EXPECT_NE(loadProblem(sparse).find("larger than 1 MiB"), std::string::npos);
  // Exactly at the bound is still a config.
  const std::string edge = (dir_ / "edge.json").string();
  {
    std::ofstream out(edge);
    const std::string head = "{\"interval\": \"60s\"";
    out << head << std::string(kMaxConfigBytes - head.size() - 1, ' ') << "}";
  }
  EXPECT_EQ(std::filesystem::file_size(edge), kMaxConfigBytes);
  EXPECT_EQ(loadProblem(edge), "");
}

TEST_F(ConfigFile, SymlinkToARegularFileIsRead) {
  const std::string real = (dir_ / "real.json").string();
  {
    std::ofstream out(real);
    out << R"({"interval": "2m"})";
  }
  const std::string link = (dir_ / "link.json").string();
  std::filesystem::create_symlink(real, link);
  EXPECT_EQ(loadConfigFile(link).interval, 2min);
}

}  // namespace
}  // namespace pathwatch
