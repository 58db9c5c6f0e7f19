// The key a person has against the key pathwatchd has: the rules, the words,
// the systemd lines quoted from the unit, and the status answer's key entry
// (source, status, fingerprint; never the key).
#include "cli/key_compare.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "status_snapshot.h"

namespace pathwatch {
namespace {

// Made up, shaped like real project keys.
const std::string kKeyA = "sk-proj-Qm7Vx2Lr9Tz4Kb8Nw1Hc6Fy3Dj0Gs5PaXeRt2Yu7Io";
const std::string kKeyB = "sk-proj-Zt8wQ2mXv9Lr4Kp7Nc1Hd6Fy3Bj0Gs5MxYAe4Wq9Lk";

const ProviderConfig& openai() {
  static const Config c = defaultConfig();
  return c.providers[0];
}

KeyView withKey(const std::string& key, const std::string& source, bool configured = true) {
  KeyView v = keyViewOf(inspectKey(*openai().spec.def, key, source, configured).layer);
  EXPECT_TRUE(v.read);
  return v;
}

KeyView missing(const std::string& source, const std::string& problem) {
  KeyView v;
  v.source = source;
  v.configured = true;
  v.status = "fail";
  v.error = "key_missing";
  v.problems = {problem};
  return v;
}

KeyView none() {
  KeyView v;
  v.source = "none";
  v.status = "skipped";
  return v;
}

TEST(KeyCompare, Rules) {
  const KeyView a = withKey(kKeyA, "env:OPENAI_API_KEY", false);
  const KeyView b = withKey(kKeyB, "file:/run/credentials/pathwatchd.service/openai");
  const KeyView lack = missing("env:OPENAI_API_KEY", "env_unset");
  EXPECT_EQ(compareKeys(a, lack), KeyFinding::DaemonLacksKey);
  EXPECT_EQ(compareKeys(a, none()), KeyFinding::DaemonLacksKey);
  EXPECT_EQ(compareKeys(a, b), KeyFinding::DifferentKey);
  EXPECT_EQ(compareKeys(a, withKey(kKeyA, "file:/x")), KeyFinding::SameKey);
  EXPECT_EQ(compareKeys(lack, b), KeyFinding::OnlyDaemonHasKey);
  EXPECT_EQ(compareKeys(none(), lack), KeyFinding::NeitherHasKey);
  // A damaged key was still read: a different fingerprint is a different key.
  const KeyView damaged = withKey("'" + kKeyB + "'", "env:OPENAI_API_KEY");
  EXPECT_EQ(damaged.error, "key_malformed");
  EXPECT_EQ(compareKeys(a, damaged), KeyFinding::DifferentKey);
  EXPECT_EQ(toString(KeyFinding::DaemonLacksKey), "daemon_lacks_key");
}

std::string readSourceFile(const std::string& rel) {
  std::ifstream f(std::string(PATHWATCH_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(KeyCompare, DaemonLacksKeyShowsTheUnitsLines) {
  KeyComparison c;
  c.provider = "openai";
  c.local = withKey(kKeyA, "env:OPENAI_API_KEY", false);
  c.daemon = none();
  c.finding = compareKeys(c.local, c.daemon);
  KeyTextContext ctx;
  ctx.daemon_config = "/etc/pathwatch/config.json";
  ctx.daemon_pid = 812;
  const std::string text = renderKeyComparisons({c}, ctx);
  EXPECT_NE(text.find("Keys: this check and pathwatchd (pid 812) differ:"), std::string::npos)
      << text;
  EXPECT_NE(text.find("! openai: this check read a key from env:OPENAI_API_KEY (sk-proj…u7Io), "
                      "but pathwatchd has none (OPENAI_API_KEY is not set in its environment)."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("A variable set in your shell is not in the service's environment."),
            std::string::npos);
  EXPECT_NE(text.find("\"key_file\": \"/run/credentials/pathwatchd.service/openai\""),
            std::string::npos);
  EXPECT_NE(text.find("OPENAI_API_KEY=<the key>"), std::string::npos) << text;
  EXPECT_NE(text.find("systemctl restart pathwatchd"), std::string::npos);
  // The usual variable needs no "key_env" in the config.
  EXPECT_EQ(text.find("\"key_env\""), std::string::npos) << text;
  EXPECT_EQ(text.find("Qm7Vx2Lr"), std::string::npos);

  // The unit lines quoted are the ones systemd/pathwatchd.service shows, commented.
  const std::string unit = readSourceFile("systemd/pathwatchd.service");
  ASSERT_FALSE(unit.empty());
  const ServiceKeyFix fix = serviceKeyFix("openai", c.local, c.daemon);
  for (const std::string& line : {fix.load_credential, fix.environment_file}) {
    EXPECT_NE(text.find("        " + line + "\n"), std::string::npos) << line;
    EXPECT_NE(unit.find("\n#" + line + "\n"), std::string::npos) << line << " not in the unit";
  }
}

TEST(KeyCompare, ConfiguredVariableAndFileSources) {
  // The daemon's config names a variable the service lacks: key_file goes in
  // its place, or the same variable in an environment file.
  KeyComparison c;
  c.provider = "fake";
  c.local = withKey(kKeyA, "env:FAKE_KEY");
  c.daemon = missing("env:FAKE_KEY", "env_unset");
  c.finding = compareKeys(c.local, c.daemon);
  KeyTextContext ctx;
  ctx.perspective = KeyPerspective::Status;
  std::string text = renderKeyComparisons({c}, ctx);
  EXPECT_NE(text.find("Keys: you and pathwatchd differ:"), std::string::npos) << text;
  EXPECT_NE(text.find("! fake: you have a key in env:FAKE_KEY (sk-proj…u7Io), but pathwatchd has "
                      "none (env:FAKE_KEY: env_unset)."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(in place of \"key_env\")"), std::string::npos) << text;
  EXPECT_NE(text.find("LoadCredential=fake:/etc/pathwatch/keys/fake"), std::string::npos);
  EXPECT_NE(text.find("FAKE_KEY=<the key>"), std::string::npos);

  // A key file the daemon cannot read: its advice, and no variable to suggest.
  c.local = withKey(kKeyA, "file:/etc/pathwatch/keys/fake");
  c.daemon = missing("file:/etc/pathwatch/keys/fake", "file_permission_denied");
  c.finding = compareKeys(c.local, c.daemon);
  text = renderKeyComparisons({c}, ctx);
  EXPECT_NE(text.find("pathwatchd's side: "), std::string::npos) << text;
  EXPECT_EQ(text.find("EnvironmentFile"), std::string::npos) << text;
  EXPECT_EQ(text.find("A variable set in your shell"), std::string::npos) << text;
  const auto json = toJson(std::vector<KeyComparison>{c});
  EXPECT_EQ(json[0]["finding"], "daemon_lacks_key");
  EXPECT_EQ(json[0]["fix"]["load_credential"], "LoadCredential=fake:/etc/pathwatch/keys/fake");
  EXPECT_FALSE(json[0]["fix"].contains("environment_variable"));
}

TEST(KeyCompare, DifferentKeyAndQuietCases) {
  KeyComparison c;
  c.provider = "openai";
  c.local = withKey(kKeyA, "env:OPENAI_API_KEY");
  c.daemon = withKey(kKeyB, "file:/run/credentials/pathwatchd.service/openai");
  c.finding = compareKeys(c.local, c.daemon);
  KeyTextContext ctx;
  std::string text = renderKeyComparisons({c}, ctx);
  EXPECT_NE(text.find("! openai: pathwatchd uses a different key: "
                      "file:/run/credentials/pathwatchd.service/openai (sk-proj…q9Lk"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("this check read env:OPENAI_API_KEY (sk-proj…u7Io)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("then pathwatch reload"), std::string::npos) << text;  // a file: re-read
  for (const std::string& key : {kKeyA, kKeyB})
    EXPECT_EQ(text.find(key.substr(8, 20)), std::string::npos);

  // The same key, or none on either side: nothing to say.
  c.daemon = withKey(kKeyA, "file:/x");
  c.finding = compareKeys(c.local, c.daemon);
  EXPECT_EQ(renderKeyComparisons({c}, ctx), "");
  // pathwatchd has one, the person none: a note at check, silence at status.
  c.local = missing("env:OPENAI_API_KEY", "env_unset");
  c.finding = compareKeys(c.local, c.daemon);
  text = renderKeyComparisons({c}, ctx);
  EXPECT_NE(
      text.find("- openai: this check read no key (env:OPENAI_API_KEY: env_unset); pathwatchd "
                "has one: file:/x (sk-proj…u7Io)."),
      std::string::npos)
      << text;
  ctx.perspective = KeyPerspective::Status;
  EXPECT_EQ(renderKeyComparisons({c}, ctx), "");
}

TEST(KeyCompare, StatusAnswerKeyReadsBackSafely) {
  nlohmann::json j = {{"source", "env:X\x1b[31m"},
                      {"read", true},
                      {"status", "ok"},
                      {"fingerprint", "sk-proj…u7Io"},
                      {"problems", {"a", 3}}};
  const KeyView v = keyViewFromJson(j);
  EXPECT_EQ(v.source.find('\x1b'), std::string::npos);  // made fit for a terminal
  EXPECT_TRUE(v.read);
  EXPECT_EQ(v.fingerprint, "sk-proj…u7Io");
  EXPECT_EQ(v.problems, std::vector<std::string>{"a"});
  EXPECT_EQ(keyViewFromJson(nullptr).source, "");
  EXPECT_EQ(keyViewFromJson({{"read", "yes"}}).read, false);
}

TEST(StatusSnapshotKeys, EachProviderCarriesItsKeySourceStatusAndFingerprint) {
  Config config = parseConfig(R"({"providers": [
      {"name": "openai", "key_env": "OPENAI_API_KEY"},
      {"name": "anthropic", "enabled": false},
      {"name": "gemini", "enabled": false},
      {"name": "discord", "enabled": false},
      {"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}]})",
                              "/etc/pathwatch/config.json");
  StatusSnapshot snap([] { return int64_t{1'800'000'000'000}; });
  snap.onConfig(config);
  // Before the keys are read: null, never a guess.
  nlohmann::json j = snap.toJson();
  ASSERT_EQ(j["providers"][0]["name"], "openai");
  EXPECT_TRUE(j["providers"][0]["key"].is_null());

  snap.onKey("openai", inspectKey(*openai().spec.def, kKeyA, "env:OPENAI_API_KEY", true).layer);
  KeyLayer lack;
  lack.source = "none";
  lack.status = LayerStatus::Skipped;
  lack.reason = "no key configured";
  snap.onKey("local", lack);
  snap.onKey("anthropic", lack);  // disabled: not in the answer
  j = snap.toJson();
  const std::string text = j.dump();
  EXPECT_EQ(text.find(kKeyA), std::string::npos);
  EXPECT_EQ(text.find("Qm7Vx2Lr"), std::string::npos);
  EXPECT_EQ(text.find("anthropic"), std::string::npos);
  const auto& o = j["providers"][0];
  EXPECT_EQ(o["kind"], "openai");
  EXPECT_EQ(o["builtin"], true);
  EXPECT_EQ(o["key"]["source"], "env:OPENAI_API_KEY");
  EXPECT_EQ(o["key"]["configured"], true);
  EXPECT_EQ(o["key"]["status"], "ok");
  EXPECT_EQ(o["key"]["read"], true);
  EXPECT_EQ(o["key"]["fingerprint"], "sk-proj…u7Io");
  EXPECT_FALSE(o["key"].contains("length"));
  const auto& l = j["providers"][1];
  EXPECT_EQ(l["name"], "local");
  EXPECT_EQ(l["builtin"], false);
  EXPECT_EQ(l["key"]["source"], "none");
  EXPECT_EQ(l["key"]["status"], "skipped");
  EXPECT_FALSE(l["key"].contains("fingerprint"));

  // A reload reads the keys again: until then the old view is not kept.
  snap.onConfig(config);
  EXPECT_TRUE(snap.toJson()["providers"][0]["key"].is_null());
}

}  // namespace
}  // namespace pathwatch
