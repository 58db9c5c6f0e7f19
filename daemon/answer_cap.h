#pragma once
// Fits a control-socket answer under a byte budget by cutting its arrays
// (pure; the daemon uses it for `history`, whose rows could otherwise exceed
// the socket's output cap in one line).
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pathwatch {

// Keeps the longest prefix of each array named in `keys` (in that order:
// once one is cut, the later ones keep nothing) so that answer.dump() stays
// within max_bytes. When anything was cut it sets "truncated": true and
// "omitted": {key: count}. Returns true when it cut.
bool capAnswerArrays(nlohmann::json& answer, const std::vector<std::string>& keys,
                     std::size_t max_bytes);

}  // namespace pathwatch
