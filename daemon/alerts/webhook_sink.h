#pragma once
// Delivers alert events to one webhook: POST, one at a time in order, each
// try bounded by the webhook's timeout, retried with exponential backoff, from
// a bounded queue that drops the OLDEST event when full (counted, with a
// rate-limited warning). Everything runs on the loop; a dead or slow receiver
// only ever delays its own queue.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "pathwatch/fetch.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"
#include "pathwatch/redact.h"  // redactUrl: logs show a webhook as scheme://host/…

namespace pathwatch {

struct WebhookOptions {
  std::size_t max_queue = 100;
  int tries = 3;  // first try included
  std::vector<Millis> backoff = {std::chrono::seconds(1), std::chrono::seconds(4)};
  Millis drop_warning_every = std::chrono::seconds(60);
};

// The body for a format: "json" -> the event itself; "slack" -> {"text": summary}
// with Slack's control characters escaped.
std::string webhookBody(const std::string& format, const nlohmann::json& event);

// Slack's mrkdwn escaping: & < > become &amp; &lt; &gt;, so text can never
// form a mention (<!channel>, <@U123>) or a link.
std::string slackEscape(std::string_view text);

class WebhookSink {
 public:
  WebhookSink(uv_loop_t* loop, HttpClient& http, WebhookConfig cfg, WebhookOptions opt = {});
  ~WebhookSink();  // cancels the try in flight and the retry timer; no callback after
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  // Queues the event; returns at once.
  void send(const nlohmann::json& event);
  // Drops everything queued and stops; used at shutdown.
  void stop();

  const WebhookConfig& config() const { return cfg_; }
  const WebhookOptions& options() const { return opt_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t failed() const { return failed_; }    // gave up after every try
  uint64_t dropped() const { return dropped_; }  // pushed out of a full queue
  uint64_t attempts() const { return attempts_; }
  std::size_t queued() const { return queue_.size(); }
  bool busy() const { return busy_; }

 private:
  static void onRetryTimer(uv_timer_t* t) noexcept;
  void pump();
  void tryOnce();
  void finished(const FetchResult& r);

  uv_loop_t* loop_;
  HttpClient& http_;
  WebhookConfig cfg_;
  WebhookOptions opt_;
  std::string where_;  // redacted URL for logs
  std::deque<std::string> queue_;  // bodies; front is in flight when busy_
  bool busy_ = false;
  bool stopped_ = false;
  int try_ = 0;
  FetchHandle fetch_;  // the try in flight; destroying it cancels
  UvTimer retry_timer_;
  uint64_t delivered_ = 0, failed_ = 0, dropped_ = 0, attempts_ = 0;
  uint64_t dropped_logged_ = 0;
  uint64_t last_drop_log_ms_ = 0;
};

}  // namespace pathwatch
