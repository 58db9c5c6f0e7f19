#include "pathwatch/text.h"

#include "providers/signature.h"

namespace pathwatch {

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}


std::string cleanText(std::string_view raw, std::size_t cap) {
  std::string flat;
  flat.reserve(std::min(raw.size(), cap * 2));
  bool space = false;
  for (std::size_t i = 0; i < raw.size() && flat.size() < cap * 2 + 8; ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7f) {
      if (!space && !flat.empty()) flat += ' ';
      space = true;
      continue;
    }
    if (c == ' ') {
      if (space || flat.empty()) continue;
      space = true;
    } else {
      space = false;
    }
    flat += static_cast<char>(c);
  }
  if (flat.size() >= cap * 2 + 8) {
    // Cut before the end: the last word may be the first half of a key,
    // which redaction would no longer recognise. Drop it.
    const auto last_space = flat.find_last_of(' ');
    flat.resize(last_space == std::string::npos ? 0 : last_space);
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  std::string out = sig::redactKeyLike(flat);
  if (out.size() > cap) {
    std::size_t cut = cap;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "…";
  }
  // Invalid UTF-8 (binary garbage) becomes '?', so JSON output never breaks.
  std::string valid;
  valid.reserve(out.size());
  for (std::size_t i = 0; i < out.size();) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= out.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(out[i + k]) & 0xC0) == 0x80;
    if (ok) {
      valid.append(out, i, len);
      i += len;
    } else {
      valid += '?';
      ++i;
    }
  }
  return valid;
}

bool jsonNestingWithin(std::string_view body, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

}  // namespace pathwatch
