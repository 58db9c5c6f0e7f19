#include "cli/render_table.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace pathwatch {
namespace {

constexpr const char* kReset = "\033[0m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kDim = "\033[2m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kSep = " · ";

std::string paint(const std::string& text, const char* code, bool color) {
  return color ? std::string(code) + text + kReset : text;
}

// Columns a string takes on a terminal: code points, ANSI escapes excluded.
std::size_t visibleWidth(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++w;
  }
  return w;
}

std::string padRight(const std::string& s, std::size_t width) {
  const std::size_t w = visibleWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string formatMs(double ms) {
  char buf[32];
  if (ms < 10) std::snprintf(buf, sizeof buf, "%.1fms", ms);
  else std::snprintf(buf, sizeof buf, "%.0fms", ms);
  return buf;
}

// Words wrapped to `width`, every line after the first indented by `indent`.
// A word longer than the line is kept whole: evidence is never cut.
std::string wrap(const std::string& text, std::size_t first_indent, std::size_t indent,
                 std::size_t width) {
  std::string out;
  std::size_t col = first_indent;
  bool line_empty = true;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    const std::string word = text.substr(i, end - i);
    i = end + 1;
    if (word.empty()) continue;
    const std::size_t w = visibleWidth(word);
    if (!line_empty && col + 1 + w > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++col;
    }
    out += word;
    col += w;
    line_empty = false;
  }
  return out;
}

// Strings from the network may hold control characters; a terminal must not
// interpret them (no escape injection through a provider's error message).
std::string printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> layerMarks(const RouteResult& r, bool color) {
  std::vector<std::string> marks;
  auto fail = [&](const char* layer, const std::string& error) {
    return std::string(layer) + " " + paint("FAIL " + (error.empty() ? std::string("unknown") : printable(error)), kRed, color);
  };
  auto skipped = [&](const char* layer, const char* word) {
    return paint(std::string(layer) + " " + word, kDim, color);
  };

  switch (r.key.status) {
    case LayerStatus::Fail: marks.push_back(fail("key", r.key.error)); break;
    case LayerStatus::Skipped: marks.push_back(skipped("key", "none")); break;
    default: marks.push_back("key " + paint("ok", kGreen, color));
  }

  switch (r.dns.status) {
    case LayerStatus::Fail: marks.push_back(fail("dns", r.dns.error)); break;
    case LayerStatus::Skipped: marks.push_back(skipped("dns", "skipped")); break;
    default: {
      std::string m = "dns " + paint("ok", kGreen, color) + " " + formatMs(r.dns.ms);
      if (r.dns.resolvers_disagree) m += " " + paint("(resolvers disagree)", kYellow, color);
      marks.push_back(m);
    }
  }

  switch (r.tcp.status) {
    case LayerStatus::Fail: marks.push_back(fail("tcp", r.tcp.error)); break;
    case LayerStatus::Skipped: marks.push_back(skipped("tcp", "skipped")); break;
    default: {
      std::string m = "tcp " + paint("ok", kGreen, color) + " " + formatMs(r.tcp.ms);
      if (r.tcp.via_proxy) m += " via proxy";
      marks.push_back(m);
    }
  }

  switch (r.tls.status) {
    case LayerStatus::Fail: marks.push_back(fail("tls", r.tls.error)); break;
    case LayerStatus::Skipped: marks.push_back(skipped("tls", "skipped")); break;
    default: {
      std::string m = "tls " + paint("ok", kGreen, color) + " " + formatMs(r.tls.ms);
      if (r.tls.public_root == true) m += " (public root)";
      else if (r.tls.public_root == false) m += " " + paint("(NOT a public root)", kYellow, color);
      marks.push_back(m);
    }
  }

  {
    const HttpLayer& h = r.http;
    std::string m;
    if (h.code != 0) {
      // Who wrote the answer is the point: "http 401 provider".
      const bool good = h.code >= 200 && h.code < 300;
      m = "http " + paint(std::to_string(h.code), good ? kGreen : kYellow, color);
      if (!h.authored_by.empty()) m += " " + printable(h.authored_by);
      if (h.status != LayerStatus::Skipped) m += " " + formatMs(h.ms);
      if (h.status == LayerStatus::Fail) m += " " + paint("FAIL " + printable(h.error), kRed, color);
    } else if (h.status == LayerStatus::Fail) {
      m = fail("http", h.error);
      if (h.proxy_code != 0) m += " (proxy " + std::to_string(h.proxy_code) + ")";
    } else if (h.status == LayerStatus::Skipped) {
      m = skipped("http", "skipped");
    } else {
      m = "http " + paint("ok", kGreen, color) + " " + formatMs(h.ms);
    }
    marks.push_back(m);
  }

  switch (r.echo.status) {
    case LayerStatus::Fail: marks.push_back(fail("echo", r.echo.error)); break;
    case LayerStatus::Skipped: marks.push_back(skipped("echo", "skipped")); break;
    case LayerStatus::Altered: {
      std::string m = "echo " + paint("ALTERED", kYellow, color);
      for (const auto& h : r.echo.added) m += " +" + printable(h);
      for (const auto& h : r.echo.removed) m += " -" + printable(h);
      for (const auto& h : r.echo.changed) m += " ~" + printable(h);
      for (const auto& h : r.echo.case_changed) m += " ^" + printable(h);
      marks.push_back(m);
      break;
    }
    default: marks.push_back("echo " + paint("ok", kGreen, color));
  }
  return marks;
}

std::string egressText(const std::optional<Egress>& e) {
  if (!e || e->empty()) return "egress unknown";
  std::string s = "egress " + (e->ip.empty() ? std::string("?") : e->ip);
  if (!e->country.empty()) s += " " + e->country;
  if (!e->colo.empty()) s += " " + e->colo;
  if (!e->seen_by.empty()) s += " (seen by " + e->seen_by + ")";
  return s;
}

}  // namespace

std::string renderLayerMarks(const RouteResult& r, bool color) {
  std::string out;
  for (const auto& m : layerMarks(r, color)) {
    if (!out.empty()) out += kSep;
    out += m;
  }
  return out;
}

std::string renderCheckReport(const CheckReport& report, const RenderOptions& options) {
  const bool color = options.color;
  const std::size_t width = static_cast<std::size_t>(std::max(options.width, 40));
  std::string out;

  // Header: what was checked, when, with which config.
  std::string header = "pathwatch check";
  if (!options.config_source.empty()) header += kSep + std::string("config ") + options.config_source;
  if (!report.started_at.empty()) header += kSep + report.started_at;
  header += kSep + std::to_string(report.duration_ms) + " ms";
  out += paint(header, kBold, color) + "\n";

  for (const auto& route : report.routes) {
    std::string line = "route " + printable(route.name) + ": " + printable(egressText(route.egress));
    if (!route.binding_error.empty())
      line += " " + paint("BINDING FAILED: " + printable(route.binding_error), kRed, color);
    out += wrap(line, 0, 4, width) + "\n";
  }

  // Route names column, so the verdicts line up.
  std::size_t name_w = 0, verdict_w = 0;
  for (const auto& p : report.providers)
    for (const auto& r : p.routes) {
      name_w = std::max(name_w, visibleWidth(r.route));
      verdict_w = std::max(verdict_w, toString(r.verdict).size());
    }

  std::size_t not_ok = 0;
  for (const auto& p : report.providers) {
    out += "\n";
    const bool ok = p.diagnosis.verdict == Verdict::Ok;
    bool all_routes_ok = true;
    for (const auto& r : p.routes) all_routes_ok = all_routes_ok && r.verdict == Verdict::Ok;
    if (!ok || !all_routes_ok) ++not_ok;
    std::string title = paint(printable(p.name), kBold, color) + "  " +
                        paint(std::string(toString(p.diagnosis.verdict)), ok ? kGreen : kRed, color);
    if (!ok) title += " (cause: " + std::string(toString(p.diagnosis.cause)) + ")";
    out += title + "\n";
    if (!p.diagnosis.summary.empty())
      out += "  " + wrap(printable(p.diagnosis.summary), 2, 2, width) + "\n";
    if (!ok && !p.diagnosis.working_routes.empty()) {
      std::string works;
      for (const auto& w : p.diagnosis.working_routes) works += (works.empty() ? "" : ", ") + printable(w);
      out += "  works on: " + works + "\n";
    }

    for (const auto& r : p.routes) {
      const bool route_ok = r.verdict == Verdict::Ok;
      std::string lead = "  " + paint(route_ok ? "✓" : "✗", route_ok ? kGreen : kRed, color) + " " +
                         padRight(printable(r.route), name_w) + "  " +
                         padRight(paint(std::string(toString(r.verdict)), route_ok ? kGreen : kRed, color),
                                  verdict_w) +
                         "  ";
      const std::size_t marks_col = visibleWidth(lead);
      const auto marks = layerMarks(r, color);
      std::size_t widest = 0;
      for (const auto& m : marks) widest = std::max(widest, visibleWidth(m));
      // Narrow terminals: marks go under the route instead of beside it.
      const std::size_t indent = marks_col + widest + 2 > width ? 6 : marks_col;
      std::string line = lead;
      std::size_t col = marks_col;
      if (indent != marks_col) {
        line += "\n" + std::string(indent, ' ');
        col = indent;
      }
      bool first = true;
      for (const auto& mark : marks) {
        const std::size_t w = visibleWidth(mark);
        // +2 keeps room for the " ·" that ends a wrapped line.
        if (!first && col + visibleWidth(kSep) + w + 2 > width) {
          line += " ·\n" + std::string(indent, ' ');  // the dot says "continues"
          col = indent;
          first = true;
        }
        if (!first) {
          line += kSep;
          col += visibleWidth(kSep);
        }
        line += mark;
        col += w;
        first = false;
      }
      out += line + "\n";
      for (const auto& e : r.evidence) out += "      - " + wrap(printable(e), 8, 8, width) + "\n";
    }
  }

  out += "\n";
  const std::size_t total = report.providers.size();
  if (total == 0) {
    out += "no provider checked\n";
  } else if (not_ok == 0 && report.allOk()) {
    out += paint("all " + std::to_string(total) + " provider" + (total == 1 ? "" : "s") + " ok", kGreen, color) + "\n";
  } else {
    out += paint(std::to_string(total - not_ok) + " of " + std::to_string(total) + " provider" +
                     (total == 1 ? "" : "s") + " ok",
                 kRed, color) +
           "\n";
  }
  return out;
}

}  // namespace pathwatch
