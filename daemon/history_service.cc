#include "history_service.h"

#include <stdexcept>

#include "history_command.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

HistoryService::HistoryService(uv_loop_t* loop, const std::string& path,
                               std::function<HistoryConfig()> config,
                               HistoryServiceOptions options)
    : path_(path) {
  writer_ = std::make_unique<HistoryWriter>(loop, path, options.writer);
  reader_ = std::make_unique<HistoryReader>(loop, path, options.max_queued_queries);
  recorder_ = std::make_unique<HistoryRecorder>(writer_.get());
  retention_ = std::make_unique<HistoryRetention>(loop, writer_.get(), std::move(config),
                                                  options.retention);
}

HistoryService::~HistoryService() { shutdown(); }

namespace {

std::string errorLine(const std::string& message) {
  return json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                      json::error_handler_t::replace);
}

}  // namespace

void HistoryService::answer(const json& request, std::size_t max_bytes, std::function<void(std::string)> reply) {
  HistoryQuery q;
  try {
    q = parseHistoryRequest(request, wallClockMs());
  } catch (const std::invalid_argument& e) {
    reply(errorLine(e.what()));
    return;
  }
  if (!writer_ || !reader_) {
    reply(errorLine("history unavailable: stopping"));
    return;
  }
  recorder_->flush();
  writer_->whenWritten([this, q, max_bytes, reply = std::move(reply)] {
    bool queued =
        reader_ && reader_->run([q, max_bytes](History& h) { return historyAnswerLine(q, h, max_bytes); }, reply);
    if (!queued) reply(errorLine("history busy: too many queries waiting"));
  });
}

HistoryService::StatusState HistoryService::statusState() const {
  StatusState s;
  if (writer_) s.writer = writer_->stats();
  if (retention_) s.retention_steps = retention_->steps();
  return s;
}

json HistoryService::statusJson(const StatusState& state) const {
  json out = writer_ ? toJson(state.writer) : json::object();
  out["path"] = path_;
  if (retention_) out["retention_steps"] = state.retention_steps;
  return out;
}

void HistoryService::shutdown() {
  if (retention_) retention_->stop();
  if (recorder_) recorder_->flush();
  if (reader_) reader_->shutdown();
  if (writer_) writer_->shutdown();
  retention_.reset();
  recorder_.reset();
  reader_.reset();
  writer_.reset();
}

}  // namespace pathwatch
