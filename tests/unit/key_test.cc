// Key hygiene: where keys come from, the paste mistakes found, fingerprints,
// and that a damaged key is never handed out to be sent.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "providers/provider_def.h"
#include "answers/fixtures.h"
#include "pathwatch/key.h"

namespace pathwatch {
namespace {

using namespace fixtures;

bool hasProblem(const KeyInspection& k, const std::string& p) {
  for (const auto& x : k.layer.problems)
    if (x == p) return true;
  return false;
}

std::string problems(const KeyInspection& k) {
  std::string out;
  for (const auto& p : k.layer.problems) out += p + " ";
  return out;
}

TEST(Fingerprint, FirstSevenAndLastFour) {
  EXPECT_EQ(fingerprint(kOpenAIKey), "sk-proj…MxYA");
  EXPECT_EQ(fingerprint("sk-ant-api03-abcdefghijklmnopAbCd"), "sk-ant-…AbCd");
  EXPECT_EQ(fingerprint("short-key-12"), "");  // 12 characters: showing 11 would show nearly all
  EXPECT_EQ(fingerprint("sk-proj-abc\ndefghij\x01YZ"), "sk-proj…j?YZ");
}

TEST(InspectKey, CleanKeysOfEveryProviderPass) {
  for (const ProviderDef* k : {&providers::openai_provider, &providers::anthropic_provider, &providers::gemini_provider, &providers::discord_provider}) {
    const auto r = inspectKey(*k, keyFor(k), "env:X", true);
    EXPECT_EQ(r.layer.status, LayerStatus::Ok) << k->id << ": " << problems(r);
    EXPECT_EQ(r.key.reveal(), keyFor(k));
    EXPECT_EQ(r.layer.looks_like, k->id);
    EXPECT_EQ(r.layer.length, keyFor(k).size());
    EXPECT_EQ(r.layer.source, "env:X");
    EXPECT_TRUE(r.layer.read);
  }
}

struct PasteCase {
  std::string name;
  const ProviderDef* kind;
  std::string raw;
  std::vector<std::string> expected;
};

TEST(InspectKey, PasteMistakesAreKeyMalformedAndNothingIsSent) {
  const std::vector<PasteCase> cases = {
      {"trailing_newline", &providers::openai_provider, kOpenAIKey + "\n", {"trailing_newline"}},
      {"crlf_env_file", &providers::openai_provider, kOpenAIKey + "\r\n", {"trailing_newline", "carriage_return"}},
      {"leading_space", &providers::anthropic_provider, " " + kAnthropicKey, {"leading_whitespace"}},
      {"trailing_space", &providers::anthropic_provider, kAnthropicKey + " \n", {"trailing_whitespace", "trailing_newline"}},
      {"double_quotes", &providers::gemini_provider, "\"" + kGeminiKey + "\"", {"surrounding_quotes"}},
      {"single_quotes", &providers::gemini_provider, "'" + kGeminiKey + "'", {"surrounding_quotes"}},
      {"typographic_quotes", &providers::openai_provider, "\xE2\x80\x9C" + kOpenAIKey + "\xE2\x80\x9D", {"surrounding_quotes"}},
      {"bearer_inside", &providers::openai_provider, "Bearer " + kOpenAIKey, {"bearer_prefix"}},
      {"bearer_doubled", &providers::openai_provider, "Bearer Bearer " + kOpenAIKey, {"bearer_prefix"}},
      {"bot_prefix", &providers::discord_provider, "Bot " + kDiscordToken, {"bot_prefix"}},
      {"header_pasted", &providers::anthropic_provider, "x-api-key: " + kAnthropicKey, {"header_pasted"}},
      {"env_assignment", &providers::openai_provider, "OPENAI_API_KEY=" + kOpenAIKey, {"assignment"}},
      {"empty", &providers::openai_provider, "", {"empty"}},
      {"only_newline", &providers::openai_provider, "\n", {"empty", "trailing_newline"}},
      {"url_pasted", &providers::openai_provider, "https://platform.openai.com/api-keys", {"url"}},
      {"space_inside", &providers::gemini_provider, "AIzaSyB3x9Qk7Lm2 Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd", {"contains_space"}},
      {"control_char", &providers::openai_provider, kOpenAIKey.substr(0, 40) + "\x07" + kOpenAIKey.substr(40), {"nonprintable"}},
      {"bom", &providers::openai_provider, "\xEF\xBB\xBF" + kOpenAIKey, {"non_ascii"}},
      {"anthropic_key_for_openai", &providers::openai_provider, kAnthropicKey, {"wrong_provider_shape"}},
      {"openai_key_for_gemini", &providers::gemini_provider, kOpenAIKey, {"wrong_provider_shape"}},
      {"gemini_key_for_discord", &providers::discord_provider, kGeminiKey, {"wrong_provider_shape"}},
      {"clearly_not_a_key", &providers::anthropic_provider, "changeme", {"unknown_shape"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = inspectKey(*c.kind, c.raw, "file:/run/credentials/pathwatchd.service/key", true);
    EXPECT_EQ(r.layer.status, LayerStatus::Fail) << problems(r);
    EXPECT_EQ(r.layer.error, "key_malformed");
    EXPECT_TRUE(r.key.empty()) << "a damaged key is never sent";
    EXPECT_EQ(r.layer.length, c.raw.size());
    for (const auto& p : c.expected) EXPECT_TRUE(hasProblem(r, p)) << "missing " << p << " in " << problems(r);
    EXPECT_EQ(r.layer.fingerprint.find('\n'), std::string::npos);
  }
}

TEST(InspectKey, WrongShapeSaysWhatItLooksLike) {
  const auto r = inspectKey(providers::openai_provider, kAnthropicKey, "env:OPENAI_API_KEY", true);
  EXPECT_EQ(r.layer.looks_like, "anthropic");
  // The fingerprint of the quoted key is the key's own, as the provider would echo it.
  const auto q = inspectKey(providers::openai_provider, "'" + kOpenAIKey + "'\n", "env:OPENAI_API_KEY", true);
  EXPECT_EQ(q.layer.fingerprint, "sk-proj…MxYA");
}

TEST(InspectKey, CustomEndpointsAcceptAnyToken) {
  // An OpenAI-compatible server in front of anything: short or foreign tokens are its business.
  EXPECT_EQ(inspectKey(providers::openai_provider, "local-token", "env:LLM_KEY", true, false).layer.status, LayerStatus::Ok);
  EXPECT_EQ(inspectKey(providers::openai_provider, kAnthropicKey, "env:LLM_KEY", true, false).layer.status, LayerStatus::Ok);
  // Paste damage is damage everywhere.
  EXPECT_EQ(inspectKey(providers::openai_provider, "local-token\n", "env:LLM_KEY", true, false).layer.error, "key_malformed");
}

TEST(InspectKey, UnfamiliarLongTokensGetTheBenefitOfTheDoubt) {
  const auto r = inspectKey(providers::openai_provider, "sk-or-v1-0123456789abcdef0123456789abcdef", "env:X", true);
  EXPECT_EQ(r.layer.status, LayerStatus::Ok) << problems(r);
  EXPECT_EQ(r.layer.looks_like, "");
}

TEST(SecretKey, CopiesAndAssignmentKeepTheValue) {
  SecretKey a(kOpenAIKey);
  SecretKey b = a;
  SecretKey c;
  c = b;
  c = c;
  EXPECT_EQ(c.reveal(), kOpenAIKey);
  EXPECT_FALSE(c.empty());
  SecretKey e;
  EXPECT_TRUE(e.empty());
}

// ---------------------------------------------------------------- readKey

class ReadKey : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pathwatch_key_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ::unsetenv("PATHWATCH_TEST_KEY");
    saved_ = std::getenv("OPENAI_API_KEY") ? std::optional<std::string>(std::getenv("OPENAI_API_KEY")) : std::nullopt;
    ::unsetenv("OPENAI_API_KEY");
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    ::unsetenv("PATHWATCH_TEST_KEY");
    if (saved_) ::setenv("OPENAI_API_KEY", saved_->c_str(), 1);
  }
  std::string write(const std::string& name, const std::string& content) {
    const auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    ::chmod(p.c_str(), 0600);  // as a key file is kept: a world-readable one is refused
    return p.string();
  }
  ProviderConfig openai() const {
    ProviderConfig p;
    p.spec = spec("openai");
    return p;
  }
  std::filesystem::path dir_;
  std::optional<std::string> saved_;
};

TEST_F(ReadKey, ConfiguredEnvVariable) {
  ProviderConfig p = openai();
  p.key_env = "PATHWATCH_TEST_KEY";
  ::setenv("PATHWATCH_TEST_KEY", kOpenAIKey.c_str(), 1);
  const auto r = readKey(p);
  EXPECT_EQ(r.layer.status, LayerStatus::Ok);
  EXPECT_EQ(r.layer.source, "env:PATHWATCH_TEST_KEY");
  EXPECT_TRUE(r.layer.configured);
  EXPECT_EQ(r.key.reveal(), kOpenAIKey);
  EXPECT_EQ(r.layer.fingerprint, "sk-proj…MxYA");
}

TEST_F(ReadKey, ConfiguredEnvVariableUnsetOrEmptyIsKeyMissing) {
  ProviderConfig p = openai();
  p.key_env = "PATHWATCH_TEST_KEY";
  auto r = readKey(p);
  EXPECT_EQ(r.layer.status, LayerStatus::Fail);
  EXPECT_EQ(r.layer.error, "key_missing");
  EXPECT_TRUE(r.key.empty());
  ::setenv("PATHWATCH_TEST_KEY", "", 1);
  r = readKey(p);
  EXPECT_EQ(r.layer.error, "key_missing");
  EXPECT_TRUE(hasProblem(r, "env_empty"));
}

TEST_F(ReadKey, KeyFileIsInspectedRaw) {
  ProviderConfig p = openai();
  p.key_file = write("openai", kOpenAIKey + "\n");  // `echo KEY > file`
  const auto r = readKey(p);
  EXPECT_EQ(r.layer.source, "file:" + *p.key_file);
  EXPECT_EQ(r.layer.error, "key_malformed");
  EXPECT_TRUE(hasProblem(r, "trailing_newline"));
  EXPECT_EQ(r.layer.length, kOpenAIKey.size() + 1);
  EXPECT_TRUE(r.key.empty());

  p.key_file = write("clean", kOpenAIKey);
  const auto ok = readKey(p);
  EXPECT_EQ(ok.layer.status, LayerStatus::Ok);
  EXPECT_EQ(ok.key.reveal(), kOpenAIKey);
}

TEST_F(ReadKey, MissingEmptyOrOddFilesAreKeyMissing) {
  ProviderConfig p = openai();
  p.key_file = (dir_ / "absent").string();
  auto r = readKey(p);
  EXPECT_EQ(r.layer.error, "key_missing");
  EXPECT_TRUE(hasProblem(r, "file_not_found"));
  p.key_file = write("empty", "");
  r = readKey(p);
  EXPECT_EQ(r.layer.error, "key_missing");
  EXPECT_TRUE(hasProblem(r, "file_empty"));
  p.key_file = dir_.string();
  r = readKey(p);
  EXPECT_EQ(r.layer.error, "key_missing");
  EXPECT_TRUE(hasProblem(r, "not_a_regular_file"));
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  p.key_file = fifo;
  r = readKey(p);  // must not block on a FIFO with no writer
  EXPECT_EQ(r.layer.error, "key_missing");
}

TEST_F(ReadKey, HugeFileIsNotAKey) {
  ProviderConfig p = openai();
  p.key_file = write("huge", std::string(200 * 1024, 'a'));
  const auto r = readKey(p);
  EXPECT_EQ(r.layer.error, "key_malformed");
  EXPECT_TRUE(hasProblem(r, "too_long"));
  EXPECT_TRUE(r.key.empty());
}

TEST_F(ReadKey, BuiltinFallsBackToItsUsualVariableElseProbesWithoutAKey) {
  ProviderConfig p = openai();
  auto r = readKey(p);
  EXPECT_EQ(r.layer.status, LayerStatus::Skipped);
  EXPECT_EQ(r.layer.source, "none");
  EXPECT_NE(r.layer.reason.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_TRUE(r.key.empty());
  ::setenv("OPENAI_API_KEY", kOpenAIKey.c_str(), 1);
  r = readKey(p);
  EXPECT_EQ(r.layer.status, LayerStatus::Ok);
  EXPECT_EQ(r.layer.source, "env:OPENAI_API_KEY");
  EXPECT_FALSE(r.layer.configured);
}

TEST_F(ReadKey, CustomProviderWithoutKeySourceProbesWithoutAKey) {
  ProviderConfig p;
  p.spec = *makeProviderSpec("local-llm", providers::openai_provider, "https://llm.example.net/v1", false);
  const auto r = readKey(p);
  EXPECT_EQ(r.layer.status, LayerStatus::Skipped);
  EXPECT_EQ(r.layer.source, "none");
}

}  // namespace
}  // namespace pathwatch

namespace pathwatch {
namespace {

TEST(WipeSecret, OverwritesTheWholeBufferThenEmptiesIt) {
  // Longer than the small-string buffer, and with spare capacity past the size:
  // the bytes beyond size() once held a longer key too.
  std::string s = "sk-proj-" + std::string(80, 'Q');
  s.resize(40);
  const std::size_t cap = s.capacity();
  ASSERT_GE(cap, 88u);
  const char* buf = s.data();
  wipeSecret(s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data(), buf) << "the same buffer, not a new one";
  for (std::size_t i = 0; i < cap; ++i) ASSERT_EQ(buf[i], '\0') << "byte " << i;
}

}  // namespace
}  // namespace pathwatch
