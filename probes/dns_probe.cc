#include "dns_probe.h"

#include <ares.h>
#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "loop/uv_ares.h"

namespace pathwatch {

namespace {

constexpr int kTypeA = 1;
constexpr int kTypeAAAA = 28;
constexpr int kMaxAddrs = 32;

std::vector<std::string> parseAddresses(bool aaaa, const unsigned char* abuf, int alen,
                                        int* status) {
  std::vector<std::string> out;
  if (!abuf || alen <= 0) return out;
  char text[INET6_ADDRSTRLEN] = {};
  int n = kMaxAddrs;
  if (!aaaa) {
    ares_addrttl ttls[kMaxAddrs];
    const int rc = ares_parse_a_reply(abuf, alen, nullptr, ttls, &n);
    if (rc != ARES_SUCCESS) {
      *status = rc;
      return out;
    }
    for (int i = 0; i < n; ++i)
      if (inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof(text))) out.emplace_back(text);
  } else {
    ares_addr6ttl ttls[kMaxAddrs];
    const int rc = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls, &n);
    if (rc != ARES_SUCCESS) {
      *status = rc;
      return out;
    }
    for (int i = 0; i < n; ++i)
      if (inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof(text))) out.emplace_back(text);
  }
  if (out.empty()) *status = ARES_ENODATA;
  return out;
}

}  // namespace

struct DnsProbe::PerResolver {
  uint64_t id_a = 0, id_aaaa = 0;
  bool done_a = false, done_aaaa = false;
  std::string err_a, err_aaaa;
  std::vector<std::string> addrs_a, addrs_aaaa;
  bool finished = false;
  DnsAnswer answer;
};

DnsLayer summarizeDns(std::vector<DnsAnswer> answers) {
  DnsLayer layer;
  layer.answers = std::move(answers);
  std::optional<std::set<std::string>> first_set;
  for (const auto& a : layer.answers) {
    layer.ms = std::max(layer.ms, a.ms);
    if (a.status != LayerStatus::Ok || a.addresses.empty()) continue;
    std::set<std::string> set(a.addresses.begin(), a.addresses.end());
    if (!first_set) {
      first_set = set;
      layer.addresses = a.addresses;
    } else if (set != *first_set) {
      layer.resolvers_disagree = true;
    }
  }
  if (first_set) {
    layer.status = LayerStatus::Ok;
  } else {
    layer.status = LayerStatus::Fail;
    layer.error = layer.answers.empty() ? "no_resolver" : layer.answers.front().error;
    if (layer.error.empty()) layer.error = "dns_error";
  }
  return layer;
}

DnsProbe::DnsProbe(uv_loop_t* loop, std::vector<DnsTarget> targets, DnsProbeOptions opts,
                   Done done)
    : loop_(loop), targets_(std::move(targets)), opts_(std::move(opts)), done_(std::move(done)) {
  started_ns_ = uv_hrtime();
  if (timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) == 0)
    uv_timer_start(timer_.get(), &DnsProbe::onStart, 0, 0);
}

DnsProbe::~DnsProbe() {
  finished_ = true;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    auto* ch = targets_[i].channel;
    if (!ch) continue;
    if (!state_[i]->done_a) ch->cancel(state_[i]->id_a);
    if (!state_[i]->done_aaaa) ch->cancel(state_[i]->id_aaaa);
  }
}

void DnsProbe::onStart(uv_timer_t* t) noexcept {
  auto* self = static_cast<DnsProbe*>(t->data);
  if (!self) return;
  try {
    self->start();
  } catch (...) {
  }
}

void DnsProbe::onBackstop(uv_timer_t* t) noexcept {
  auto* self = static_cast<DnsProbe*>(t->data);
  if (!self) return;
  try {
    // c-ares normally reports its own timeout first; this bounds a resolver
    // list that fails over for longer than the budget.
    for (std::size_t i = 0; i < self->state_.size(); ++i) {
      auto& st = *self->state_[i];
      if (st.finished) continue;
      auto* ch = self->targets_[i].channel;
      if (!st.done_a) {
        st.done_a = true;
        st.err_a = "timeout";
        if (ch) ch->cancel(st.id_a);
      }
      if (!st.done_aaaa) {
        st.done_aaaa = true;
        st.err_aaaa = "timeout";
        if (ch) ch->cancel(st.id_aaaa);
      }
      self->resolverDone(i);
    }
    self->finishIfComplete();
  } catch (...) {
  }
}

void DnsProbe::start() {
  started_ns_ = uv_hrtime();
  state_.clear();
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    auto st = std::make_unique<PerResolver>();
    st->answer.resolver = targets_[i].resolver;
    state_.push_back(std::move(st));
  }
  uv_timer_start(timer_.get(), &DnsProbe::onBackstop,
                 static_cast<uint64_t>(opts_.budget.count()) + 100, 0);
  // The query callbacks may run synchronously (a binding refused at once):
  // they only record; completion is checked after every query is started.
  starting_ = true;
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    auto* ch = targets_[i].channel;
    auto& st = *state_[i];
    if (!ch) {
      st.done_a = st.done_aaaa = true;
      st.err_a = st.err_aaaa = "resolver_setup_failed";
      resolverDone(i);
      continue;
    }
    st.id_a = ch->query(opts_.host, kTypeA, [this, i](int s, const unsigned char* b, int l) {
      queryDone(i, false, s, b, l);
    });
    st.id_aaaa = ch->query(opts_.host, kTypeAAAA, [this, i](int s, const unsigned char* b, int l) {
      queryDone(i, true, s, b, l);
    });
  }
  starting_ = false;
  finishIfComplete();
}

void DnsProbe::queryDone(std::size_t idx, bool aaaa, int status, const unsigned char* abuf,
                         int alen) {
  if (finished_) return;
  auto& st = *state_[idx];
  std::vector<std::string> addrs;
  if (status == ARES_SUCCESS) addrs = parseAddresses(aaaa, abuf, alen, &status);
  std::string err = aresErrorString(status);
  if (status == ARES_ECONNREFUSED && targets_[idx].channel &&
      !targets_[idx].channel->bindError().empty())
    err = targets_[idx].channel->bindError();  // the route binding was refused: say so
  if (aaaa) {
    st.done_aaaa = true;
    st.err_aaaa = err;
    st.addrs_aaaa = std::move(addrs);
  } else {
    st.done_a = true;
    st.err_a = err;
    st.addrs_a = std::move(addrs);
  }
  resolverDone(idx);
  finishIfComplete();
}

void DnsProbe::resolverDone(std::size_t idx) {
  auto& st = *state_[idx];
  if (st.finished || !st.done_a || !st.done_aaaa) return;
  st.finished = true;
  DnsAnswer& a = st.answer;
  a.ms = static_cast<double>(uv_hrtime() - started_ns_) / 1e6;
  a.addresses = st.addrs_a;
  a.addresses.insert(a.addresses.end(), st.addrs_aaaa.begin(), st.addrs_aaaa.end());
  if (!a.addresses.empty()) {
    a.status = LayerStatus::Ok;
    if (opts_.flag_bogons)
      for (const auto& addr : a.addresses)
        if (isBogon(addr, opts_.allowed)) a.bogons.push_back(addr);
  } else {
    a.status = LayerStatus::Fail;
    // A's error speaks for the name unless A merely had no data.
    a.error = (st.err_a.empty() || st.err_a == "nodata") && !st.err_aaaa.empty() ? st.err_aaaa
                                                                                 : st.err_a;
    if (a.error.empty()) a.error = "nodata";
  }
}

void DnsProbe::finishIfComplete() {
  if (finished_ || starting_) return;
  for (const auto& st : state_)
    if (!st->finished) return;
  finished_ = true;
  timer_.reset();
  std::vector<DnsAnswer> answers;
  for (auto& st : state_) answers.push_back(std::move(st->answer));
  DnsLayer layer = summarizeDns(std::move(answers));
  layer.ms = static_cast<double>(uv_hrtime() - started_ns_) / 1e6;
  auto done = std::move(done_);
  if (done) done(std::move(layer));  // may destroy this; nothing touched after
}

}  // namespace pathwatch
