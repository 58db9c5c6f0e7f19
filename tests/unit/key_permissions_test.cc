// A key file every local user can read is refused unread: nothing is sent,
// and the operator is told what to change.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "answers/fixtures.h"
#include "pathwatch/key.h"

namespace pathwatch {
namespace {

class KeyFileMode : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pathwatch-key-mode-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProviderConfig providerWithKeyFile(mode_t mode) {
    const std::string path = (dir_ / "openai").string();
    std::ofstream(path, std::ios::binary) << fixtures::kOpenAIKey;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    ProviderConfig p;
    p.spec = *findBuiltin("openai");
    p.key_file = path;
    return p;
  }

  std::filesystem::path dir_;
};

TEST_F(KeyFileMode, WorldReadableIsRefusedUnread) {
  for (mode_t mode : {0644, 0604, 0444, 0666, 0755}) {
    const auto r = readKey(providerWithKeyFile(mode));
    EXPECT_EQ(r.layer.status, LayerStatus::Fail) << std::oct << mode;
    EXPECT_EQ(r.layer.error, "key_missing");
    ASSERT_EQ(r.layer.problems.size(), 1u);
    EXPECT_EQ(r.layer.problems[0], "file_world_readable");
    EXPECT_TRUE(r.key.empty()) << "a world-readable key would be sent";
    EXPECT_FALSE(r.layer.read);
    EXPECT_EQ(r.layer.length, 0u);  // not even its length was learnt
  }
}

TEST_F(KeyFileMode, OwnerOrGroupOnlyIsRead) {
  for (mode_t mode : {0600, 0400, 0640, 0440}) {
    const auto r = readKey(providerWithKeyFile(mode));
    EXPECT_EQ(r.layer.status, LayerStatus::Ok) << std::oct << mode;
    EXPECT_EQ(r.key.reveal(), fixtures::kOpenAIKey);
  }
}

TEST(KeyProblemAdvice, TellsTheOperatorWhatToChange) {
  const std::string advice(keyProblemAdvice("file_world_readable"));
  EXPECT_NE(advice.find("chmod 600"), std::string::npos);
  EXPECT_NE(advice.find("640"), std::string::npos);
  EXPECT_FALSE(keyProblemAdvice("file_not_found").empty());
  EXPECT_TRUE(keyProblemAdvice("trailing_newline").empty());
}

}  // namespace
}  // namespace pathwatch
