#pragma once
// A loopback DNS server on the test's own libuv loop (UDP, port 0): answers A
// and AAAA from a table, or NXDOMAIN / SERVFAIL / REFUSED / NODATA, or never
// answers at all (drop) so timeouts can be proven.
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pathwatch::testing {

class FakeDns {
 public:
  struct Record {
    std::vector<std::string> a, aaaa;
    int rcode = 0;      // 0 NOERROR (empty lists = NODATA), 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED
    bool drop = false;  // never answer
  };

  explicit FakeDns(uv_loop_t* loop, const std::string& bind_ip = "127.0.0.1");
  ~FakeDns();
  FakeDns(const FakeDns&) = delete;
  FakeDns& operator=(const FakeDns&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", as a resolver entry of the config.
  std::string spec() const;
  void set(const std::string& name, Record r) { records_[lower(name)] = std::move(r); }
  void setDefault(Record r) { default_ = std::move(r); }
  int queries() const { return queries_; }

 private:
  static std::string lower(std::string s);
  static void onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept;
  static void onRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                     unsigned flags) noexcept;
  void answer(const unsigned char* q, size_t n, const sockaddr* from);

  uv_udp_t* udp_ = nullptr;  // freed in its close callback
  std::string bind_ip_;
  uint16_t port_ = 0;
  std::map<std::string, Record> records_;
  Record default_{{}, {}, 3, false};
  int queries_ = 0;
  char buf_[1500];
};

}  // namespace pathwatch::testing
