#include "messagecorps/cloud_events.h"

#include <array>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

constexpr std::string_view kSpecVersion = "1.0";
constexpr std::string_view kSourcePrefix = "/messagecorps/";
constexpr std::string_view kProtoParameter = "; proto=";

constexpr std::string_view kContentTypeRaw = "application/x-protobuf";
constexpr std::string_view kContentTypeSeed = "application/vnd.messagecorps.seed+zlib";
constexpr std::string_view kContentTypeConfluent = "application/vnd.confluent.protobuf";

// A header value quoted for a problem report (bounded, escaped).
std::string Quoted(std::string_view value) {
  constexpr size_t kMax = 128;
  std::string out = absl::StrCat("\"", absl::CEscape(AsAbsl(value.substr(0, kMax))), "\"");
  if (value.size() > kMax) out += "...";
  return out;
}

char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

// RFC 3986 path-segment characters that need no escaping: unreserved / sub-delims / ":" / "@".
bool IsSegmentChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("-._~!$&'()*+,;=:@", c) != nullptr && c != '\0';
}

struct ContentType {
  std::string_view media_type;  // trimmed, as written
  std::optional<std::string_view> proto;
};

// "type/subtype; name=value; ..." — parameters other than proto are ignored.
ContentType ParseContentType(std::string_view value) {
  ContentType result;
  size_t semicolon = value.find(';');
  result.media_type = Trim(value.substr(0, semicolon));
  while (semicolon != std::string_view::npos) {
    value.remove_prefix(semicolon + 1);
    semicolon = value.find(';');
    std::string_view parameter = Trim(value.substr(0, semicolon));
    size_t equals = parameter.find('=');
    if (equals == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(Trim(parameter.substr(0, equals)), "proto")) continue;
    std::string_view proto = Trim(parameter.substr(equals + 1));
    if (proto.size() >= 2 && proto.front() == '"' && proto.back() == '"') {
      proto = proto.substr(1, proto.size() - 2);
    }
    result.proto = proto;
  }
  return result;
}

std::optional<Encoding> EncodingOfMediaType(std::string_view media_type) {
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    if (EqualsIgnoreCase(media_type, ContentTypeFor(e))) return e;
  }
  return std::nullopt;
}

}  // namespace

std::string_view ContentTypeFor(Encoding encoding) {
  switch (encoding) {
    case Encoding::kSeed:
      return kContentTypeSeed;
    case Encoding::kRaw:
      return kContentTypeRaw;
    case Encoding::kConfluent:
      return kContentTypeConfluent;
  }
  return kContentTypeRaw;
}

namespace {

// The two headers every set ends with.
void EmitTraceAndEncoding(const Envelope& envelope, Encoding encoding,
                          const std::function<void(std::string_view, std::string_view)>& emit) {
  std::array<char, 55> traceparent;
  if (size_t n = envelope.trace.WriteTraceparent(traceparent); n > 0) {
    emit(header::kTraceparent, std::string_view(traceparent.data(), n));
  }
  emit(header::kEncoding, EncodingName(encoding));
}

}  // namespace

void ForEachEnvelopeHeader(const Envelope& envelope, std::string_view type_name, Encoding encoding,
                           std::string_view source,
                           const std::function<void(std::string_view, std::string_view)>& emit) {
  emit(header::kSpecVersion, kSpecVersion);
  emit(header::kId, envelope.uuid_view());
  if (!source.empty()) emit(header::kSource, source);
  if (!type_name.empty()) emit(header::kType, type_name);
  emit(header::kTime, envelope.iso_date_view());

  // "<media type>; proto=<type>", built on the stack unless the type name is unusually long.
  std::string_view media_type = ContentTypeFor(encoding);
  if (type_name.empty()) {
    emit(header::kContentType, media_type);
  } else {
    const size_t size = media_type.size() + kProtoParameter.size() + type_name.size();
    std::array<char, 256> stack;
    std::string heap;
    char* p = stack.data();
    if (size > stack.size()) {
      heap.resize(size);
      p = heap.data();
    }
    std::memcpy(p, media_type.data(), media_type.size());
    std::memcpy(p + media_type.size(), kProtoParameter.data(), kProtoParameter.size());
    std::memcpy(p + media_type.size() + kProtoParameter.size(), type_name.data(), type_name.size());
    emit(header::kContentType, std::string_view(p, size));
  }

  EmitTraceAndEncoding(envelope, encoding, emit);
}

void ForEachCompactHeader(const Envelope& envelope, std::string_view type_name, Encoding encoding,
                          const std::function<void(std::string_view, std::string_view)>& emit) {
  if (!type_name.empty()) emit(header::kType, type_name);
  EmitTraceAndEncoding(envelope, encoding, emit);
}

void ForEachTraceparentHeader(const Envelope& envelope, std::string_view type_name,
                              bool type_in_value, Encoding encoding, std::string_view value,
                              const std::function<void(std::string_view, std::string_view)>& emit) {
  std::array<char, 55> traceparent;
  if (size_t n = envelope.trace.WriteTraceparent(traceparent); n > 0) {
    emit(header::kTraceparent, std::string_view(traceparent.data(), n));
  }
  if (!type_in_value && !type_name.empty()) emit(header::kType, type_name);
  if (DetectEncoding(value) != encoding) emit(header::kEncoding, EncodingName(encoding));
}

std::string CloudEventsSource(std::string_view service) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string source(kSourcePrefix);
  source.reserve(kSourcePrefix.size() + service.size());
  // The service becomes one path segment: anything else is percent-encoded (ce_source is a
  // URI-reference).
  for (char c : service) {
    auto byte = static_cast<unsigned char>(c);
    if (IsSegmentChar(byte)) {
      source += c;
    } else {
      source += '%';
      source += kHex[byte >> 4];
      source += kHex[byte & 0xf];
    }
  }
  return source;
}

std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view key) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == key) return std::string_view(it->second);
  }
  return std::nullopt;
}

ReceivedHeaders ParseHeaders(const Headers& headers) {
  ReceivedHeaders out;
  auto problem = [&out](std::string_view key, std::string_view value, std::string_view what) {
    out.problems.push_back(absl::StrCat(AsAbsl(key), " ", Quoted(value), ": ", AsAbsl(what)));
  };

  if (auto spec = FindHeader(headers, header::kSpecVersion); spec && *spec != kSpecVersion) {
    problem(header::kSpecVersion, *spec, "unsupported CloudEvents version (expected 1.0)");
  }

  // Encoding: mcorps-encoding first, then the content-type's media type.
  std::optional<Encoding> content_type_encoding;
  std::optional<std::string_view> content_type_proto;
  if (auto content_type = FindHeader(headers, header::kContentType)) {
    ContentType parsed = ParseContentType(*content_type);
    content_type_encoding = EncodingOfMediaType(parsed.media_type);
    content_type_proto = parsed.proto;
    if (!content_type_encoding) problem(header::kContentType, *content_type, "unknown media type");
  }
  if (auto encoding = FindHeader(headers, header::kEncoding)) {
    absl::StatusOr<Encoding> parsed = ParseEncoding(*encoding);
    if (parsed.ok()) {
      out.encoding = *parsed;
      if (content_type_encoding && *content_type_encoding != *parsed) {
        problem(header::kEncoding, *encoding,
                absl::StrCat("disagrees with content-type (",
                             AsAbsl(EncodingName(*content_type_encoding)), "); using ",
                             AsAbsl(EncodingName(*parsed))));
      }
    } else {
      problem(header::kEncoding, *encoding, "unknown encoding (expected seed, raw or confluent)");
    }
  }
  if (!out.encoding) out.encoding = content_type_encoding;

  // Type: ce_type, else content-type's proto= parameter.
  if (auto type = FindHeader(headers, header::kType)) {
    if (type->empty()) {
      problem(header::kType, *type, "empty");
    } else {
      out.type = std::string(*type);
      if (content_type_proto && *content_type_proto != *type) {
        problem(header::kContentType, *content_type_proto,
                absl::StrCat("proto= parameter disagrees with ce_type; using ", AsAbsl(*type)));
      }
    }
  }
  if (!out.type && content_type_proto && !content_type_proto->empty()) {
    out.type = std::string(*content_type_proto);
  }

  if (auto id = FindHeader(headers, header::kId)) out.id = std::string(*id);
  if (auto source = FindHeader(headers, header::kSource)) out.source = std::string(*source);
  if (auto time = FindHeader(headers, header::kTime)) out.time = std::string(*time);

  if (auto traceparent = FindHeader(headers, header::kTraceparent)) {
    absl::StatusOr<TraceContext> trace = TraceContext::FromTraceparent(*traceparent);
    if (trace.ok()) {
      out.trace = *trace;
    } else {
      problem(header::kTraceparent, *traceparent, "invalid W3C traceparent");
    }
  }
  return out;
}

}  // namespace messagecorps
