#pragma once
// A plain-HTTP server on the test's own libuv loop (127.0.0.1, port 0) that
// answers every request with one canned response, or never answers (hang).
#include <uv.h>

#include <cstdint>
#include <set>
#include <string>

#include "pathwatch/provider.h"

namespace pathwatch::testing {

class EngineFakeHttp {
 public:
  struct Response {
    int status = 200;
    HeaderList headers;
    std::string body;
  };
  EngineFakeHttp(uv_loop_t* loop, Response response, bool hang = false);
  ~EngineFakeHttp();
  EngineFakeHttp(const EngineFakeHttp&) = delete;
  EngineFakeHttp& operator=(const EngineFakeHttp&) = delete;

  uint16_t port() const { return port_; }
  int requests() const { return requests_; }
  const std::string& lastHead() const { return last_head_; }

 private:
  struct Conn;
  static void onConn(uv_stream_t* s, int status) noexcept;
  void closeConn(Conn* c);

  uv_loop_t* loop_;
  uv_tcp_t* listener_;
  Response response_;
  bool hang_;
  uint16_t port_ = 0;
  int requests_ = 0;
  std::string last_head_;
  std::set<Conn*> conns_;
};

}  // namespace pathwatch::testing
