#include "src/io/json.hpp"

#include <cstdio>

namespace iccrt::detail::json {
namespace {

inline unsigned byte_at(std::string_view s, size_t i) { return static_cast<unsigned char>(s[i]); }

// Length (1-4) of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not one. The ranges of the
// second byte exclude overlong forms (E0, F0), UTF-16 surrogates (ED) and code points past U+10FFFF (F4).
size_t utf8_sequence(std::string_view s, size_t i) {
  const unsigned c = byte_at(s, i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  if (byte_at(s, i + 1) < lo || byte_at(s, i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((byte_at(s, i + k) & 0xC0) != 0x80) return 0;
  return n;
}

// A character for an error message: itself when printable ASCII, else its hex code.
std::string describe(unsigned c) {
  char buf[16];
  if (c >= 0x20 && c < 0x7f) {
    std::snprintf(buf, sizeof(buf), "'%c'", static_cast<char>(c));
  } else {
    std::snprintf(buf, sizeof(buf), "byte 0x%02x", c);
  }
  return buf;
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Null:
      return "null";
    case Kind::Bool:
      return "boolean";
    case Kind::Number:
      return "number";
    case Kind::String:
      return "string";
    case Kind::Array:
      return "array";
    case Kind::Object:
      return "object";
  }
  return "?";
}

void Reader::fail(const std::string& what) const { throw ParseError("at byte " + std::to_string(pos_) + ": " + what); }

void Reader::skip_ws() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++pos_;
  }
}

void Reader::expect(char c, const char* what) {
  skip_ws();
  if (pos_ >= text_.size()) fail(std::string("unexpected end of input, expected ") + what);
  if (text_[pos_] != c) fail(std::string("expected ") + what + ", got " + describe(byte_at(text_, pos_)));
  ++pos_;
}

Kind Reader::peek() {
  skip_ws();
  if (pos_ >= text_.size()) fail("unexpected end of input, expected a value");
  const char c = text_[pos_];
  switch (c) {
    case '{':
      return Kind::Object;
    case '[':
      return Kind::Array;
    case '"':
      return Kind::String;
    case 't':
    case 'f':
      return Kind::Bool;
    case 'n':
      return Kind::Null;
    default:
      break;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return Kind::Number;
  fail("expected a value, got " + describe(byte_at(text_, pos_)));
}

void Reader::open(char c) {
  if (static_cast<int>(has_items_.size()) >= max_depth_)
    fail("containers nested deeper than " + std::to_string(max_depth_) + " levels");
  expect(c, c == '{' ? "'{'" : "'['");
  has_items_.push_back(false);
}

void Reader::begin_object() { open('{'); }
void Reader::begin_array() { open('['); }

bool Reader::next_member(std::string* key) {
  if (has_items_.empty()) fail("next_member outside an object");
  skip_ws();
  if (pos_ < text_.size() && text_[pos_] == '}') {
    ++pos_;
    has_items_.pop_back();
    return false;
  }
  if (has_items_.back()) expect(',', "',' or '}'");
  skip_ws();
  if (pos_ >= text_.size()) fail("unexpected end of input, expected a string key");
  if (text_[pos_] != '"') fail("expected a string key, got " + describe(byte_at(text_, pos_)));
  *key = read_string();
  expect(':', "':'");
  has_items_.back() = true;
  return true;
}

bool Reader::next_item() {
  if (has_items_.empty()) fail("next_item outside an array");
  skip_ws();
  if (pos_ < text_.size() && text_[pos_] == ']') {
    ++pos_;
    has_items_.pop_back();
    return false;
  }
  if (has_items_.back()) expect(',', "',' or ']'");
  has_items_.back() = true;
  return true;
}

void Reader::parse_hex4(uint32_t* cp) {
  if (text_.size() - pos_ < 4) fail("truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      fail("invalid hex digit " + describe(byte_at(text_, pos_)) + " in \\u escape");
    }
    v = v * 16 + d;
    ++pos_;
  }
  *cp = v;
}

void Reader::append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Reader::read_string() {
  expect('"', "a string");
  std::string out;
  while (true) {
    if (pos_ >= text_.size()) fail("unterminated string");
    const unsigned c = byte_at(text_, pos_);
    if (c == '"') {
      ++pos_;
      return out;
    }
    if (c < 0x20) fail("unescaped control character " + describe(c) + " in a string");
    if (c >= 0x80) {
      const size_t n = utf8_sequence(text_, pos_);
      if (n == 0) fail("invalid UTF-8 in a string");
      out.append(text_.substr(pos_, n));
      pos_ += n;
      continue;
    }
    ++pos_;
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    const char e = text_[pos_++];
    switch (e) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        uint32_t cp;
        parse_hex4(&cp);
        if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed at once by an escaped low surrogate; together they name one
          // code point above U+FFFF.
          if (text_.size() - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
            fail("high surrogate not followed by a low surrogate in \\u escape");
          pos_ += 2;
          uint32_t lo;
          parse_hex4(&lo);
          if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(cp, &out);
        break;
      }
      default:
        --pos_;
        fail("invalid escape \\" + std::string(1, e));
    }
  }
}

int64_t Reader::read_int64() {
  skip_ws();
  const size_t start = pos_;
  const auto digit = [&] { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; };
  const bool negative = pos_ < text_.size() && text_[pos_] == '-';
  if (negative) ++pos_;
  if (!digit()) fail("expected a number");
  // JSON forbids leading zeros ("01"); a lone "0" is fine.
  if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
    fail("number with a leading zero");
  uint64_t magnitude = 0;
  bool overflow = false;
  const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  while (digit()) {
    const uint64_t d = static_cast<uint64_t>(text_[pos_] - '0');
    if (magnitude > (limit - d) / 10) overflow = true;
    if (!overflow) magnitude = magnitude * 10 + d;
    ++pos_;
  }
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    pos_ = start;
    fail("expected an integer, got a number with a fraction or exponent");
  }
  if (overflow) {
    pos_ = start;
    fail("integer does not fit in 64 bits");
  }
  if (!negative) return static_cast<int64_t>(magnitude);
  return magnitude == (uint64_t{1} << 63) ? INT64_MIN : -static_cast<int64_t>(magnitude);
}

void Reader::finish() {
  skip_ws();
  if (pos_ != text_.size()) fail("unexpected " + describe(byte_at(text_, pos_)) + " after the end of the JSON value");
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char ch : s) {
    const unsigned c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace iccrt::detail::json
