#include "integration/support/fake_dns.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace pathwatch::testing {

namespace {
struct SendReq {
  uv_udp_send_t req;
  std::vector<unsigned char> data;
};
}  // namespace

FakeDns::FakeDns(uv_loop_t* loop, const std::string& bind_ip) : bind_ip_(bind_ip) {
  udp_ = new uv_udp_t;
  uv_udp_init(loop, udp_);
  udp_->data = this;
  sockaddr_storage ss{};
  const bool v6 = bind_ip.find(':') != std::string::npos;
  if (v6)
    uv_ip6_addr(bind_ip.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&ss));
  else
    uv_ip4_addr(bind_ip.c_str(), 0, reinterpret_cast<sockaddr_in*>(&ss));
  if (uv_udp_bind(udp_, reinterpret_cast<sockaddr*>(&ss), 0) != 0)
    throw std::runtime_error("fake dns: bind failed");
  int len = sizeof(ss);
  uv_udp_getsockname(udp_, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  uv_udp_recv_start(udp_, &FakeDns::onAlloc, &FakeDns::onRecv);
}

FakeDns::~FakeDns() {
  udp_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(udp_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
}

std::string FakeDns::spec() const {
  if (bind_ip_.find(':') != std::string::npos)
    return "[" + bind_ip_ + "]:" + std::to_string(port_);
  return bind_ip_ + ":" + std::to_string(port_);
}

std::string FakeDns::lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

void FakeDns::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<FakeDns*>(h->data);
  if (!self) {
    static char scratch[1500];
    *buf = uv_buf_init(scratch, sizeof(scratch));
    return;
  }
  *buf = uv_buf_init(self->buf_, sizeof(self->buf_));
}

void FakeDns::onRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                     unsigned) noexcept {
  auto* self = static_cast<FakeDns*>(h->data);
  if (!self || n <= 0 || !from) return;
  try {
    self->answer(reinterpret_cast<const unsigned char*>(buf->base), static_cast<size_t>(n), from);
  } catch (...) {
  }
}

void FakeDns::answer(const unsigned char* q, size_t n, const sockaddr* from) {
  ++queries_;
  if (n < 12) return;
  // Question: labels, then qtype and qclass.
  size_t pos = 12;
  std::string name;
  while (pos < n && q[pos] != 0) {
    const size_t len = q[pos];
    if (len > 63 || pos + 1 + len > n) return;
    if (!name.empty()) name += '.';
    name.append(reinterpret_cast<const char*>(q + pos + 1), len);
    pos += 1 + len;
  }
  if (pos + 5 > n) return;
  const size_t qend = pos + 5;
  const int qtype = (q[pos + 1] << 8) | q[pos + 2];
  auto it = records_.find(lower(name));
  const Record& rec = it == records_.end() ? default_ : it->second;
  if (rec.drop) return;

  std::vector<std::vector<unsigned char>> rdatas;
  if (rec.rcode == 0) {
    const auto& list = qtype == 28 ? rec.aaaa : (qtype == 1 ? rec.a : std::vector<std::string>{});
    for (const auto& addr : list) {
      std::vector<unsigned char> rd(qtype == 28 ? 16 : 4);
      if (inet_pton(qtype == 28 ? AF_INET6 : AF_INET, addr.c_str(), rd.data()) == 1)
        rdatas.push_back(std::move(rd));
    }
  }
  auto* sr = new SendReq;
  sr->req.data = sr;
  auto& out = sr->data;
  out.assign(q, q + qend);
  out[2] = static_cast<unsigned char>(0x80 | (q[2] & 0x01));  // QR, keep RD
  out[3] = static_cast<unsigned char>(0x80 | (rec.rcode & 0x0f));  // RA, rcode
  out[4] = 0;
  out[5] = 1;  // qdcount
  out[6] = 0;
  out[7] = static_cast<unsigned char>(rdatas.size());
  for (int i = 8; i < 12; ++i) out[i] = 0;
  for (const auto& rd : rdatas) {
    const unsigned char rr[] = {0xc0, 0x0c, 0, static_cast<unsigned char>(qtype), 0, 1,
                                0, 0, 0, 60, 0, static_cast<unsigned char>(rd.size())};
    out.insert(out.end(), rr, rr + sizeof(rr));
    out.insert(out.end(), rd.begin(), rd.end());
  }
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
  if (uv_udp_send(&sr->req, udp_, &b, 1, from, [](uv_udp_send_t* r, int) {
        delete static_cast<SendReq*>(r->data);
      }) != 0)
    delete sr;
}

}  // namespace pathwatch::testing
