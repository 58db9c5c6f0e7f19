// The TCP layer against loopback listeners on port 0.
#include "tcp_probe.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "integration/support/engine_loop.h"
#include "route_binding.h"

namespace pathwatch {
namespace {

using testing::TestLoop;

// A listener on the test loop that accepts and closes.
class Listener {
 public:
  Listener(uv_loop_t* loop, const char* ip) {
    h_ = new uv_tcp_t;
    uv_tcp_init(loop, h_);
    h_->data = this;
    sockaddr_storage ss{};
    if (std::string(ip).find(':') != std::string::npos)
      uv_ip6_addr(ip, 0, reinterpret_cast<sockaddr_in6*>(&ss));
    else
      uv_ip4_addr(ip, 0, reinterpret_cast<sockaddr_in*>(&ss));
    EXPECT_EQ(uv_tcp_bind(h_, reinterpret_cast<sockaddr*>(&ss), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(h_), 16, &Listener::onConn), 0);
    int len = sizeof(ss);
    uv_tcp_getsockname(h_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~Listener() {
    uv_close(reinterpret_cast<uv_handle_t*>(h_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  uint16_t port() const { return port_; }
  int accepted = 0;

 private:
  static void onConn(uv_stream_t* s, int status) {
    if (status != 0) return;
    auto* self = static_cast<Listener*>(s->data);
    auto* c = new uv_tcp_t;
    uv_tcp_init(s->loop, c);
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(c)) == 0) ++self->accepted;
    uv_close(reinterpret_cast<uv_handle_t*>(c), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  uv_tcp_t* h_;
  uint16_t port_ = 0;
};

// A port nobody listens on: bound once, then released.
uint16_t closedPort(uv_loop_t* loop) {
  Listener l(loop, "127.0.0.1");
  return l.port();
}

RouteConfig route(RouteKind kind = RouteKind::Default, const std::string& v = "") {
  RouteConfig r;
  r.name = "r";
  r.kind = kind;
  if (kind == RouteKind::Interface) r.interface = v;
  if (kind == RouteKind::SourceIp) r.source_ip = v;
  return r;
}

class TcpProbeTest : public ::testing::Test {
 protected:
  std::optional<TcpLayer> run(std::vector<std::string> addrs, uint16_t port, RouteConfig rt = route()) {
    TcpProbeOptions opts;
    opts.addresses = std::move(addrs);
    opts.port = port;
    opts.route = std::move(rt);
    opts.budget = std::chrono::seconds(3);
    std::optional<TcpLayer> out;
    auto probe = std::make_unique<TcpProbe>(loop.get(), opts, [&](TcpLayer l) { out = std::move(l); });
    EXPECT_FALSE(out) << "completed synchronously";
    loop.runUntil([&] { return out.has_value(); }, 10000);
    probe.reset();
    loop.drain();
    return out;
  }
  TestLoop loop;
};

TEST_F(TcpProbeTest, ConnectsAndReportsAddresses) {
  Listener l(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, l.port());
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->address, "127.0.0.1:" + std::to_string(l.port()));
  EXPECT_EQ(layer->local_address, "127.0.0.1");
  ASSERT_EQ(layer->attempts.size(), 1u);
  EXPECT_EQ(layer->attempts[0].status, LayerStatus::Ok);
}

TEST_F(TcpProbeTest, ClosedPortIsConnectionRefused) {
  const uint16_t port = closedPort(loop.get());
  loop.drain();
  auto layer = run({"127.0.0.1"}, port);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, "connection_refused");
}

TEST_F(TcpProbeTest, FallsThroughToTheNextAddressInOrder) {
  Listener l(loop.get(), "::1");
  auto layer = run({"127.0.0.1", "::1"}, l.port());  // nothing on v4 at that port
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  ASSERT_EQ(layer->attempts.size(), 2u);
  EXPECT_EQ(layer->attempts[0].error, "connection_refused");
  EXPECT_EQ(layer->address, "[::1]:" + std::to_string(l.port()));
}

TEST_F(TcpProbeTest, AtMostFourAttempts) {
  const uint16_t port = closedPort(loop.get());
  loop.drain();
  auto layer = run({"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, port);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->attempts.size(), 4u);
}

TEST_F(TcpProbeTest, SourceBindingOfTheWrongFamilyFailsLoudly) {
  Listener l(loop.get(), "::1");
  auto layer = run({"::1"}, l.port(), route(RouteKind::SourceIp, "127.0.0.1"));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, "address_family_mismatch");
  EXPECT_EQ(l.accepted, 0);
}

TEST_F(TcpProbeTest, SourceBindingIsUsed) {
  Listener l(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, l.port(), route(RouteKind::SourceIp, "127.0.0.2"));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->local_address, "127.0.0.2");
}

TEST_F(TcpProbeTest, MissingInterfaceIsNoSuchDevice) {
  Listener l(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, l.port(), route(RouteKind::Interface, "pw-nonexist0"));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->error, "no_such_device");
  EXPECT_EQ(l.accepted, 0);
}

TEST_F(TcpProbeTest, NoAddressFails) {
  auto layer = run({}, 443);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, "no_address");
}

TEST_F(TcpProbeTest, DestroyedProbeNeverCallsBack) {
  Listener l(loop.get(), "127.0.0.1");
  bool called = false;
  TcpProbeOptions opts;
  opts.addresses = {"127.0.0.1"};
  opts.port = l.port();
  opts.route = route();
  auto probe = std::make_unique<TcpProbe>(loop.get(), opts, [&](TcpLayer) { called = true; });
  probe.reset();  // before its first loop turn
  loop.drain();
  EXPECT_FALSE(called);
}

TEST(RouteBinding, CheckNamesTheProblem) {
  auto msg = checkRouteBinding(route(RouteKind::Interface, "pw-nonexist0"));
  EXPECT_NE(msg.find("no_such_device"), std::string::npos) << msg;
  EXPECT_EQ(checkRouteBinding(route()), "");
  EXPECT_NE(checkRouteBinding(route(RouteKind::SourceIp, "192.0.2.77")).find("bind_source_failed"),
            std::string::npos);
}

}  // namespace
}  // namespace pathwatch
