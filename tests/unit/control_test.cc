// The control socket's pure parts: who may run and reload, the Groups: line
// of /proc/PID/status, cutting an answer to the output cap, and the systemd
// STATUS= text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "answer_cap.h"
#include "control_socket.h"
#include "sd_notify.h"

namespace pathwatch {
namespace {

using nlohmann::json;

PeerCred peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  PeerCred p;
  p.pid = 1234;
  p.uid = uid;
  p.gid = gid;
  p.groups = std::move(groups);
  p.known = true;
  return p;
}

TEST(MayControl, RootTheDaemonsUserAndTheSocketsGroup) {
  const uid_t daemon_uid = 998;
  const gid_t socket_gid = 4242;
  EXPECT_TRUE(mayControl(peer(0, 0), daemon_uid, socket_gid));
  EXPECT_TRUE(mayControl(peer(998, 100), daemon_uid, socket_gid));
  EXPECT_TRUE(mayControl(peer(1000, 4242), daemon_uid, socket_gid)) << "primary group";
  EXPECT_TRUE(mayControl(peer(1000, 1000, {27, 4242}), daemon_uid, socket_gid)) << "supplementary";
  EXPECT_FALSE(mayControl(peer(1000, 1000, {27, 100}), daemon_uid, socket_gid));
  EXPECT_FALSE(mayControl(peer(65534, 65534), daemon_uid, socket_gid));
  PeerCred unknown;  // SO_PEERCRED failed: nobody is assumed
  unknown.uid = 0;
  EXPECT_FALSE(mayControl(unknown, daemon_uid, socket_gid));
  // The socket's group unknown: only root and the daemon's user.
  EXPECT_FALSE(mayControl(peer(1000, 4242), daemon_uid, static_cast<gid_t>(-1)));
  EXPECT_TRUE(mayControl(peer(998, 1), daemon_uid, static_cast<gid_t>(-1)));
}

TEST(ParseStatusGroups, ReadsTheGroupsLine) {
  const std::string status =
      "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\n"
      "Gid:\t1000\t1000\t1000\t1000\nFDSize:\t256\nGroups:\t4 24 27 4242 \nNStgid:\t77\n";
  auto g = parseStatusGroups(status);
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, (std::vector<gid_t>{4, 24, 27, 4242}));
  auto none = parseStatusGroups("Name:\tx\nGroups:\t\nUid:\t0\n");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(parseStatusGroups("Name:\tx\nUid:\t0\n")) << "no Groups: line";
  EXPECT_FALSE(parseStatusGroups("Name:\tx\nGroups:\t4 24 27")) << "cut short by the read bound";
  EXPECT_FALSE(parseStatusGroups("Groups:\t4 x 27\n")) << "garbage";
}

json bigAnswer(int results, int transitions) {
  json a = {{"ok", true}, {"since", "2026-01-01T00:00:00Z"}, {"truncated", false}};
  a["transitions"] = json::array();
  for (int i = 0; i < transitions; ++i) a["transitions"].push_back({{"n", i}, {"pad", std::string(50, 't')}});
  a["results"] = json::array();
  for (int i = 0; i < results; ++i) a["results"].push_back({{"n", i}, {"pad", std::string(200, 'r')}});
  return a;
}

TEST(CapAnswerArrays, SmallAnswersAreLeftWhole) {
  json a = bigAnswer(5, 2);
  const json before = a;
  EXPECT_FALSE(capAnswerArrays(a, {"transitions", "results"}, 1 << 20));
  EXPECT_EQ(a, before);
}

TEST(CapAnswerArrays, CutsToTheBudgetKeepingTheNewestAndCounting) {
  for (std::size_t budget : {1000u, 5000u, 50000u, 100000u}) {
    json a = bigAnswer(2000, 10);
    ASSERT_TRUE(capAnswerArrays(a, {"transitions", "results"}, budget)) << budget;
    EXPECT_LE(a.dump().size(), budget) << budget;
    EXPECT_EQ(a["truncated"], true);
    EXPECT_EQ(a["ok"], true) << "the rest of the answer is kept";
    const std::size_t kept = a["results"].size();
    EXPECT_EQ(kept + a["omitted"].value("results", 0u), 2000u);
    for (std::size_t i = 0; i < kept; ++i) EXPECT_EQ(a["results"][i]["n"], i) << "a prefix, in order";
    if (budget >= 5000) {
      EXPECT_EQ(a["transitions"].size(), 10u) << "the first array first";
    }
    if (budget >= 50000) {
      EXPECT_GT(kept, 100u) << "as much as fits";
    }
  }
}

TEST(CapAnswerArrays, WhenTheFirstArrayFillsTheBudgetTheLaterOnesKeepNothing) {
  json a = bigAnswer(10, 500);
  ASSERT_TRUE(capAnswerArrays(a, {"transitions", "results"}, 4000));
  EXPECT_LE(a.dump().size(), 4000u);
  EXPECT_LT(a["transitions"].size(), 500u);
  EXPECT_EQ(a["results"].size(), 0u);
  EXPECT_EQ(a["omitted"]["results"], 10);
}

TEST(StatusText, NoControlCharacterSurvives) {
  EXPECT_EQ(statusText("ok: 3 providers"), "ok: 3 providers");
  EXPECT_EQ(statusText("a\nWATCHDOG=trigger\rb\tc\x1b[2Jd\x7f"), "a WATCHDOG=trigger b c [2Jd ");
  EXPECT_EQ(statusText("región — ✓"), "región — ✓") << "UTF-8 is not a control character";
  EXPECT_EQ(statusText(std::string("x\0y", 3)), "x y");
}

}  // namespace
}  // namespace pathwatch
