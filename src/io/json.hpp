#pragma once
// A small, bounded JSON pull reader and the string quoting the writers need.
//
// Built for file headers that come from untrusted files (safetensors). The caller walks the document in the
// shape it expects (begin_object / next_member / read_string / ...), so nothing is stored that the caller does
// not keep: a hostile header cannot make the reader allocate more than the strings it returns, and there is no
// recursion. Containers may nest at most `max_depth` levels. Strings are checked to be UTF-8 and every escape is
// decoded (\uXXXX surrogate pairs to one 4-byte UTF-8 sequence). Anything outside strict RFC 8259 JSON raises
// ParseError with the byte offset.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iccrt::detail::json {

// Raised by Reader; what() starts with "at byte N: ". Callers wrap it in their own error type.
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
const char* kind_name(Kind k);  // "null", "boolean", "number", "string", "array", "object"

class Reader {
 public:
  Reader(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  // The kind of the next value, judged from its first character (whitespace skipped). ParseError at the end
  // of the input or on a character that cannot start a value.
  Kind peek();

  // Objects: begin_object() consumes '{'; each next_member() call consumes the separating ',', the key and the
  // ':' and returns true, leaving the member's value to be read; at '}' it consumes it and returns false.
  void begin_object();
  bool next_member(std::string* key);
  // Arrays, likewise: next_item() returns true when a value follows, false after consuming ']'.
  void begin_array();
  bool next_item();

  std::string read_string();
  // A number written as an integer (no fraction or exponent) that fits in int64; ParseError otherwise.
  int64_t read_int64();
  // Checks that only whitespace remains.
  void finish();

  size_t offset() const { return pos_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  void skip_ws();
  void expect(char c, const char* what);
  void open(char c);
  void parse_hex4(uint32_t* cp);
  void append_utf8(uint32_t cp, std::string* out);

  std::string_view text_;
  size_t pos_ = 0;
  int max_depth_;
  std::vector<bool> has_items_;  // per open container: whether it already produced a member/item
};

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s);

// `s` as a JSON string literal with quotes: '"', '\\' and control characters escaped, other bytes (UTF-8)
// written as they are. The caller checks valid_utf8 first.
std::string quote(std::string_view s);

}  // namespace iccrt::detail::json
