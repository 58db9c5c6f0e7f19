#include "answer_cap.h"

namespace pathwatch {

namespace {

std::size_t dumpSize(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
}

}  // namespace

bool capAnswerArrays(nlohmann::json& answer, const std::vector<std::string>& keys,
                     std::size_t max_bytes) {
  if (!answer.is_object() || dumpSize(answer) <= max_bytes) return false;
  // Room the markers take if they are needed, counted up front so adding
  // them can never push the answer over.
  nlohmann::json markers = {{"truncated", true}, {"omitted", nlohmann::json::object()}};
  for (const auto& k : keys) markers["omitted"][k] = 4294967295u;
  std::vector<nlohmann::json> arrays(keys.size());
  nlohmann::json shell = answer;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto it = shell.find(keys[i]);
    if (it == shell.end() || !it->is_array()) continue;
    arrays[i] = std::move(*it);
    *it = nlohmann::json::array();
  }
  std::size_t used = dumpSize(shell) + dumpSize(markers);
  bool full = false;
  nlohmann::json omitted = nlohmann::json::object();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!arrays[i].is_array()) continue;
    auto& out = shell[keys[i]];
    std::size_t kept = 0;
    for (auto& el : arrays[i]) {
      if (full) break;
      const std::size_t size = dumpSize(el) + 1;  // the comma
      if (used + size > max_bytes) {
        full = true;
        break;
      }
      used += size;
      out.push_back(std::move(el));
      ++kept;
    }
    if (kept < arrays[i].size()) omitted[keys[i]] = arrays[i].size() - kept;
  }
  shell["truncated"] = true;
  shell["omitted"] = std::move(omitted);
  answer = std::move(shell);
  return true;
}

}  // namespace pathwatch
