#include "alerts/webhook_sink.h"

#include "log.h"

namespace pathwatch {

std::string slackEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string webhookBody(const std::string& format, const nlohmann::json& event) {
  // Invalid UTF-8 would throw in dump(); replace it rather than lose the alert.
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  if (format == "slack") {
    // The summary quotes what the path answered (a captive portal's title):
    // escaped, "<!channel>" in it is text, not a mention.
    const auto it = event.find("summary");
    const std::string summary = it != event.end() && it->is_string() ? it->get<std::string>() : "";
    nlohmann::json j = {{"text", slackEscape(summary)}};
    return j.dump(-1, ' ', false, kReplace);
  }
  return event.dump(-1, ' ', false, kReplace);
}

WebhookSink::WebhookSink(uv_loop_t* loop, HttpClient& http, WebhookConfig cfg, WebhookOptions opt)
    : loop_(loop), http_(http), cfg_(std::move(cfg)), opt_(std::move(opt)), where_(redactUrl(cfg_.url)) {
  if (opt_.max_queue == 0) opt_.max_queue = 1;
  if (opt_.tries < 1) opt_.tries = 1;
  retry_timer_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, this);
}

// stop() cancels the fetch in flight: its handle calls nothing back after.
WebhookSink::~WebhookSink() { stop(); }

void WebhookSink::stop() {
  stopped_ = true;
  fetch_.reset();
  if (retry_timer_) uv_timer_stop(retry_timer_.get());
  queue_.clear();
  busy_ = false;
}

void WebhookSink::send(const nlohmann::json& event) {
  if (stopped_) return;
  // The front is in flight while busy: never drop it from under its try.
  const std::size_t droppable_from = busy_ ? 1 : 0;
  if (queue_.size() >= opt_.max_queue && queue_.size() > droppable_from) {
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(droppable_from));
    ++dropped_;
    const uint64_t now = uv_now(loop_);
    if (dropped_logged_ == 0 ||
        now - last_drop_log_ms_ >= static_cast<uint64_t>(opt_.drop_warning_every.count())) {
      logWarning("alerts: webhook " + where_ + " queue full (" + std::to_string(opt_.max_queue) +
                 "): dropped the oldest alert, " + std::to_string(dropped_) + " dropped so far");
      dropped_logged_ = dropped_;
      last_drop_log_ms_ = now;
    }
  }
  queue_.push_back(webhookBody(cfg_.format, event));
  pump();
}

void WebhookSink::pump() {
  if (busy_ || stopped_ || queue_.empty()) return;
  busy_ = true;
  try_ = 0;
  tryOnce();
}

void WebhookSink::tryOnce() {
  ++try_;
  ++attempts_;
  FetchRequest req;
  req.method = "POST";
  req.url = cfg_.url;
  req.headers = {{"Content-Type", "application/json"}, {"User-Agent", "pathwatch-alerts/1"}};
  req.body = queue_.front();
  req.timeout = cfg_.timeout;
  req.body_cap = 4096;  // the receiver's answer matters only for its status
  fetch_ = http_.fetch(std::move(req), [this](FetchResult r) { finished(r); });
}

void WebhookSink::finished(const FetchResult& r) {
  if (stopped_) return;
  const int code = r.http.code;
  const bool answered = r.failed_at == FailedAt::None && code != 0;
  if (answered && code >= 200 && code < 300) {
    ++delivered_;
    queue_.pop_front();
    busy_ = false;
    pump();
    return;
  }
  // 4xx other than 408/429 will not get better by asking again.
  const bool retryable = !answered || code >= 500 || code == 408 || code == 429;
  std::string why = answered ? "answered " + std::to_string(code) : r.error;
  if (retryable && try_ < opt_.tries) {
    Millis wait = opt_.backoff.empty() ? Millis(1000)
                  : opt_.backoff[std::min<std::size_t>(try_ - 1, opt_.backoff.size() - 1)];
    logInfo("alerts: webhook " + where_ + " " + why + " (try " + std::to_string(try_) + " of " +
            std::to_string(opt_.tries) + "), retrying in " + formatDuration(wait));
    uv_timer_start(retry_timer_.get(), &WebhookSink::onRetryTimer,
                   static_cast<uint64_t>(std::max<int64_t>(wait.count(), 1)), 0);
    return;
  }
  ++failed_;
  logWarning("alerts: webhook " + where_ + " " + why + " after " + std::to_string(try_) +
             " tries; alert not delivered");
  queue_.pop_front();
  busy_ = false;
  pump();
}

void WebhookSink::onRetryTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<WebhookSink*>(t->data);
  if (self == nullptr) return;
  try {
    if (!self->stopped_ && self->busy_) self->tryOnce();
  } catch (...) {
    self->busy_ = false;
  }
}

}  // namespace pathwatch
