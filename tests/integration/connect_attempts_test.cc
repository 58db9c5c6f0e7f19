// The connection attempts of a probe (the engine's TCP layer) against
// loopback listeners on port 0: addresses in order, at most four, the route's
// binding on every socket (failing loudly, never falling back), and the other
// address family tried too.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "integration/support/engine_loop.h"
#include "integration/support/fake_dns.h"
#include "pathwatch/config.h"
#include "pathwatch/engine.h"
#include "route_binding.h"

namespace pathwatch {
namespace {

using testing::FakeDns;
using testing::TestLoop;

const char* kHost = "tcp.pathwatch.test";

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

KeyInspection noKey() {
  KeyInspection k;
  k.layer.status = LayerStatus::Skipped;
  k.layer.source = "none";
  return k;
}

class ConnectAttempts : public ::testing::Test {
 protected:
  ConnectAttempts() : dns(loop.get()) {}

  // One probe of http://tcp.pathwatch.test:PORT/ whose name resolves to
  // `v4` and `v6`, over `rt`; the TCP layer it reports.
  std::optional<TcpLayer> run(std::vector<std::string> v4, std::vector<std::string> v6, uint16_t port,
                              const std::string& route_json = R"({"name": "r"})") {
    auto r = probe(std::move(v4), std::move(v6), port, route_json);
    if (!r) return std::nullopt;
    return r->tcp;
  }

  std::optional<RouteResult> probe(std::vector<std::string> v4, std::vector<std::string> v6, uint16_t port,
                                   const std::string& route_json) {
    dns.set(kHost, {std::move(v4), std::move(v6), 0, false});
    const std::string text = R"({"timeout": "3s", "providers": [{"name": "t", "kind": "openai",
        "base_url": "http://)" + std::string(kHost) + ":" + std::to_string(port) +
                             R"("}], "routes": [)" + route_json + R"(], "resolvers": [")" + dns.spec() +
                             R"("], "allowed_ranges": ["127.0.0.0/8", "::1/128"]})";
    auto config = std::make_shared<const Config>(parseConfig(text, "tcp.json"));
    const ProviderConfig* provider = nullptr;
    for (const auto& p : config->providers)
      if (p.spec.name == "t") provider = &p;
    std::optional<RouteResult> out;
    {
      Engine engine(loop.get(), config);
      engine.probe(*provider, config->routes.front(), noKey(), [&](RouteResult r) { out = std::move(r); });
      EXPECT_FALSE(out) << "completed synchronously";
      loop.runUntil([&] { return out.has_value(); }, 10000);
    }
    loop.drain();
    return out;
  }

  TestLoop loop;
  FakeDns dns;
};

TEST_F(ConnectAttempts, ConnectsAndReportsAddresses) {
  Listener l(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, {}, l.port());
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->address, "127.0.0.1:" + std::to_string(l.port()));
  EXPECT_EQ(layer->local_address, "127.0.0.1");
  ASSERT_EQ(layer->attempts.size(), 1u);
  EXPECT_EQ(layer->attempts[0].status, LayerStatus::Ok);
  EXPECT_EQ(layer->attempts[0].family, "ipv4");
}

TEST_F(ConnectAttempts, ClosedPortIsConnectionRefused) {
  const uint16_t port = closedPort(loop.get());
  loop.drain();
  auto layer = run({"127.0.0.1"}, {}, port);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, "connection_refused");
}

TEST_F(ConnectAttempts, FallsThroughToTheNextAddressInOrder) {
  Listener l(loop.get(), "127.0.0.1");
  // Nothing listens on .2 at the listener's port; .1 answers.
  auto layer = run({"127.0.0.2", "127.0.0.1"}, {}, l.port());
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  ASSERT_EQ(layer->attempts.size(), 2u);
  EXPECT_EQ(layer->attempts[0].error, "connection_refused");
  EXPECT_EQ(layer->address, "127.0.0.1:" + std::to_string(l.port()));
}

TEST_F(ConnectAttempts, TheOtherFamilyCarriesTheRequestWhenTheFirstCannotConnect) {
  Listener l(loop.get(), "::1");
  auto layer = run({"127.0.0.1"}, {"::1"}, l.port());  // nothing on v4 at that port
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->address, "[::1]:" + std::to_string(l.port()));
  ASSERT_GE(layer->attempts.size(), 2u);
  bool v4_refused = false, v6_ok = false;
  for (const auto& a : layer->attempts) {
    v4_refused |= a.family == "ipv4" && a.error == "connection_refused";
    v6_ok |= a.family == "ipv6" && a.status == LayerStatus::Ok;
  }
  EXPECT_TRUE(v4_refused);
  EXPECT_TRUE(v6_ok);
}

TEST_F(ConnectAttempts, BothFamiliesAreTriedWhenTheFirstWorks) {
  Listener l4(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, {"::1"}, l4.port());  // nothing on v6 at that port
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->address, "127.0.0.1:" + std::to_string(l4.port()));
  ASSERT_EQ(layer->attempts.size(), 2u);
  bool v6_refused = false;
  for (const auto& a : layer->attempts)
    v6_refused |= a.family == "ipv6" && a.status == LayerStatus::Fail && a.error == "connection_refused";
  EXPECT_TRUE(v6_refused);
}

TEST_F(ConnectAttempts, AtMostFourAttempts) {
  const uint16_t port = closedPort(loop.get());
  loop.drain();
  auto layer = run({"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, {}, port);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->attempts.size(), 4u);
}

TEST_F(ConnectAttempts, SourceBindingOfTheWrongFamilyFailsLoudly) {
  Listener l(loop.get(), "::1");
  auto layer = run({}, {"::1"}, l.port(), R"({"name": "r", "source_ip": "127.0.0.1"})");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, "address_family_mismatch");
  EXPECT_EQ(l.accepted, 0);
}

TEST_F(ConnectAttempts, SourceBindingIsUsed) {
  Listener l(loop.get(), "127.0.0.1");
  auto layer = run({"127.0.0.1"}, {}, l.port(), R"({"name": "r", "source_ip": "127.0.0.2"})");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  EXPECT_EQ(layer->local_address, "127.0.0.2");
}

// The route's first socket (the DNS query) already refuses the binding: the
// probe says so and nothing leaves by another way.
TEST_F(ConnectAttempts, MissingInterfaceIsNoSuchDevice) {
  Listener l(loop.get(), "127.0.0.1");
  auto r = probe({"127.0.0.1"}, {}, l.port(), R"({"name": "r", "interface": "pw-nonexist0"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->dns.answers.size(), 1u);
  EXPECT_EQ(r->dns.answers[0].error, "no_such_device");
  EXPECT_EQ(r->tcp.status, LayerStatus::Skipped);
  EXPECT_EQ(l.accepted, 0);
  EXPECT_EQ(dns.queries(), 0) << "no query left without the binding";
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
