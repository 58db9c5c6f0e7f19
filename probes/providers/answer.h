#pragma once
// Who wrote an HTTP answer and what it means, by the tables of
// probes/providers/: the provider (its envelope AND its marker header), its
// edge, or a box between (docs/providers.md). Pure: no I/O.
#include "pathwatch/provider.h"
#include "pathwatch/result.h"
#include "providers/signature.h"

namespace pathwatch::sig {

struct Analysis {
  Author author = Author::Unknown;
  const BlockRule* block = nullptr;  // when an edge or a middlebox answered
  bool provider_shape_without_marker = false;
};

// Reads http.code/headers/body and fills http.authored_by, error_type,
// error_code, message, retry_after_s and rate.
Analysis analyze(const ProviderSpec& spec, HttpLayer& http);

struct Meaning {
  Verdict verdict = Verdict::Unexpected;
  const AnswerRule* rule = nullptr;
};

// What a provider-authored answer means: its own rows first, then the
// generic ones by status.
Meaning meaningOf(const ProviderSpec& spec, const HttpLayer& http, bool key_sent);

// The verdict of an edge's or a box's answer.
Verdict blockVerdict(const BlockRule& r, int code);

}  // namespace pathwatch::sig
