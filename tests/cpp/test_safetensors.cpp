// safetensors checkpoints: the bounded JSON reader, round trips of every dtype and layout, a hand-made golden
// file, every kind of malformed file, and the atomic write.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/core/tensor.hpp"
#include "iccrt/io/safetensors.hpp"
#include "src/io/json.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

namespace json = detail::json;
using Named = std::vector<std::pair<std::string, Tensor>>;

// A fresh directory per test, removed with its files afterwards.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "iccrt_st_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& f : files()) std::remove((dir_ + "/" + f).c_str());
    rmdir(dir_.c_str());
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
      closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  std::string dir_;
};

std::string read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file: the length field (the header's size unless `declared` says otherwise), the header, the data.
std::string file_bytes(const std::string& header, const std::string& data, int64_t declared = -1) {
  return le64(declared < 0 ? header.size() : static_cast<uint64_t>(declared)) + header + data;
}

std::string raw(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
}

// ---------------------------------------------------------------------------------------------------------------
// the JSON reader

std::string read_one_string(const std::string& text) {
  json::Reader r(text, 4);
  std::string s = r.read_string();
  r.finish();
  return s;
}

TEST(SafetensorsJson, StringEscapesDecodeToUtf8) {
  EXPECT_EQ(read_one_string(R"("a\"b\\c\/d\n\t\r\b\f")"), "a\"b\\c/d\n\t\r\b\f");
  EXPECT_EQ(read_one_string(R"("\u0041\u00e9\u20AC")"), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(read_one_string(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");  // U+1F600 from a surrogate pair
  EXPECT_EQ(read_one_string("\"raw \xc3\xa9 \xf0\x9f\x98\x80\""), "raw \xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(read_one_string(R"("\u0000")"), std::string(1, '\0'));
}

TEST(SafetensorsJson, InvalidStringsAreRejected) {
  for (const char* bad :
       {R"("\ud83d")", R"("\ude00")", R"("\ud83d\u0041")", R"("\x")", R"("\u12g4")", R"("\u12")", "\"a\nb\"", "\"open",
        "\"\xc3\x28\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", R"("a" x)"}) {
    EXPECT_THROW(read_one_string(bad), json::ParseError) << bad;
  }
}

TEST(SafetensorsJson, ObjectsArraysAndIntegers) {
  json::Reader r(R"( { "a" : [1, -2, 0, 9223372036854775807, -9223372036854775808], "b": {} } )", 4);
  std::string key;
  r.begin_object();
  ASSERT_TRUE(r.next_member(&key));
  EXPECT_EQ(key, "a");
  EXPECT_EQ(r.peek(), json::Kind::Array);
  r.begin_array();
  std::vector<int64_t> v;
  while (r.next_item()) v.push_back(r.read_int64());
  EXPECT_EQ(v, (std::vector<int64_t>{1, -2, 0, INT64_MAX, INT64_MIN}));
  ASSERT_TRUE(r.next_member(&key));
  EXPECT_EQ(key, "b");
  r.begin_object();
  EXPECT_FALSE(r.next_member(&key));
  EXPECT_FALSE(r.next_member(&key));
  r.finish();

  for (const char* bad : {"01", "1.5", "1e3", "-", "9223372036854775808", "-9223372036854775809", "+1"}) {
    json::Reader n(bad, 4);
    EXPECT_THROW(n.read_int64(), json::ParseError) << bad;
  }
  for (const char* bad : {R"({"a":1,})", R"({"a" 1})", R"({"a":1 "b":2})", R"({1:2})", "{"}) {
    json::Reader o(bad, 4);
    std::string k;
    EXPECT_THROW(
        {
          o.begin_object();
          while (o.next_member(&k)) o.read_int64();
          o.finish();
        },
        json::ParseError)
        << bad;
  }
}

TEST(SafetensorsJson, NestingDepthIsBounded) {
  json::Reader r("[[[[[1]]]]]", 4);
  for (int i = 0; i < 4; ++i) {
    r.begin_array();
    ASSERT_TRUE(r.next_item());
  }
  try {
    r.begin_array();
    FAIL() << "a fifth level was accepted";
  } catch (const json::ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 4"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsJson, QuoteRoundTripsThroughTheReader) {
  const std::string s = std::string("q\"b\\s/n\nt\tc\x01\x1f ") + "\xc3\xa9\xf0\x9f\x98\x80" + std::string(1, '\0');
  EXPECT_EQ(json::quote("a\"\n\x01"), "\"a\\\"\\n\\u0001\"");
  EXPECT_EQ(read_one_string(json::quote(s)), s);
  EXPECT_TRUE(json::valid_utf8(s));
  EXPECT_FALSE(json::valid_utf8("\xff"));
  EXPECT_FALSE(json::valid_utf8("\xe2\x82"));
}

// ---------------------------------------------------------------------------------------------------------------
// round trips

TEST_F(Safetensors, RoundTripEveryDtypeAndLayout) {
  std::mt19937 rng(1234);
  Named in;
  for (DType t : test::all_dtypes()) {
    const std::string n = dtype_name(t);
    const double lo = t == DType::UInt8 ? 0 : -50, hi = t == DType::UInt8 ? 255 : 50;
    Tensor base = test::random_tensor({5, 7}, t, lo, hi, rng);
    in.emplace_back(n + ".plain", base);
    in.emplace_back(n + ".transposed", base.transpose(0, 1));                          // non-contiguous
    in.emplace_back(n + ".strided", base.slice(1, 1, 7, 3).select(0, 2));              // offset and stride 3
    in.emplace_back(n + ".broadcast", base.select(0, 1).unsqueeze(0).expand({3, 7}));  // stride 0
    in.emplace_back(n + ".scalar", test::random_tensor({}, t, lo, hi, rng));           // 0-d
    in.emplace_back(n + ".empty", empty({0, 3}, TensorOptions(t)));
    in.emplace_back(n + ".rank5", test::random_tensor({2, 1, 3, 1, 2}, t, lo, hi, rng));
  }
  in.emplace_back("special", from_vector({NAN, INFINITY, -INFINITY, -0.0, 1e-40}, {5}, DType::Float32));
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"quote\"back\\slash", "line\nbreak\ttab \x01 ctrl"},
      {"unicode \xc3\xa9\xe2\x82\xac", "emoji \xf0\x9f\x98\x80 and \xe4\xb8\xad\xe6\x96\x87"},
      {"", ""}};
  const std::string p = path("all.safetensors");
  save_safetensors(p, in, meta);
  EXPECT_EQ(files(), std::vector<std::string>{"all.safetensors"});  // no temporary file left behind
  EXPECT_EQ(read_bytes(p).size() % 8, 0u);

  const TensorFile f = load_safetensors(p);
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& [name, t] = f.tensors[i];
    SCOPED_TRACE(in[i].first);
    EXPECT_EQ(name, in[i].first);  // save order kept
    EXPECT_EQ(t.dtype(), in[i].second.dtype());
    EXPECT_EQ(t.shape(), in[i].second.shape());
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.device(), kCPU);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 64, 0u);
    EXPECT_EQ(raw(t), raw(in[i].second));  // bit-exact, NaN payloads and -0.0 included
    EXPECT_TRUE(test::close_to(t, in[i].second.shape(), test::to_host(in[i].second), {0.0, 0.0}));
  }
}

TEST_F(Safetensors, EmptyFileListAndOverwrite) {
  const std::string p = path("x.safetensors");
  save_safetensors(p, {});
  EXPECT_EQ(read_bytes(p), le64(8) + "{}      ");
  const TensorFile f = load_safetensors(p, kCPU);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
  save_safetensors(p, {{"a", from_vector({1, 2, 3}, {3}, DType::Int32)}});  // replaces the old file
  const TensorFile g = load_safetensors(p);
  ASSERT_EQ(g.tensors.size(), 1u);
  EXPECT_TRUE(test::equals(g.tensors[0].second, {3}, {1, 2, 3}));
}

TEST_F(Safetensors, WriterOutputIsByteExact) {
  const std::string p = path("w.safetensors");
  save_safetensors(p,
                   {{"w", from_vector({1, 2, -2, 0.5}, {2, 2}, DType::Float32)},
                    {"e", empty({0}, DType::Int64)},
                    {"m", from_vector({1, 0, 1}, {3}, DType::Bool)}},
                   {{"k", "v\"\n"}});
  const std::string header =
      R"({"__metadata__":{"k":"v\"\n"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("e":{"dtype":"I64","shape":[0],"data_offsets":[16,16]},"m":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}})";
  ASSERT_EQ((8 + header.size() + 3) % 8, 0u);  // three spaces of padding
  const std::string data("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\xc0\x00\x00\x00\x3f\x01\x00\x01", 19);
  EXPECT_EQ(read_bytes(p), file_bytes(header + "   ", data));
}

// A file written by hand (header JSON typed out, data as little-endian bytes), in the order and spelling another
// writer might use: keys in any order, whitespace, escapes, tensors listed out of data order.
TEST_F(Safetensors, HandMadeGoldenFileLoads) {
  const std::string header =
      "{ \"b\\u00e9ta\": {\"shape\": [3], \"dtype\": \"BF16\", \"data_offsets\": [16, 22]},\n"
      "  \"__metadata__\": {\"note\": \"a\\\"b\\\\c\\nd \\ud83d\\ude00\", \"format\": \"pt\"},\n"
      "  \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},\n"
      "  \"flags\": {\"dtype\": \"BOOL\", \"shape\": [2], \"data_offsets\": [22, 24]},\n"
      "  \"none\": {\"dtype\": \"F16\", \"shape\": [2, 0], \"data_offsets\": [24, 24]},\n"
      "  \"idx\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [24, 32]},\n"
      "  \"u\": {\"dtype\": \"U8\", \"shape\": [1, 2], \"data_offsets\": [32, 34]},\n"
      "  \"i\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [34, 38]},\n"
      "  \"h\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [38, 40]},\n"
      "  \"d\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [40, 48]} }";
  const std::string data(
      "\x00\x00\x80\x3f"
      "\x00\x00\x00\x40"
      "\x00\x00\x40\xc0"
      "\x00\x00\x00\x3e"                   // w = [[1, 2], [-3, 0.125]]
      "\x80\x3f\xc0\xbf\x80\x43"           // beta = [1, -1.5, 256] in bfloat16
      "\x00\x02"                           // flags: a foreign writer's 2 still reads as true
      "\xfe\xff\xff\xff\xff\xff\xff\xff"   // idx = -2
      "\x07\xff"                           // u = [[7, 255]]
      "\x00\x00\x00\x80"                   // i = INT32_MIN
      "\x00\x3c"                           // h = 1.0 in float16
      "\x00\x00\x00\x00\x00\x00\xf8\x3f",  // d = 1.5
      48);
  const std::string p = write_bytes("golden.safetensors", file_bytes(header, data));
  const TensorFile f = load_safetensors(p);
  const std::map<std::string, std::string> meta = {{"note", "a\"b\\c\nd \xf0\x9f\x98\x80"}, {"format", "pt"}};
  EXPECT_EQ(f.metadata, meta);
  std::vector<std::string> names;
  for (const auto& [n, t] : f.tensors) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"w", "b\xc3\xa9ta", "flags", "none", "idx", "u", "i", "h", "d"}));
  const auto& t = f.tensors;
  EXPECT_EQ(t[0].second.dtype(), DType::Float32);
  EXPECT_TRUE(test::equals(t[0].second, {2, 2}, {1, 2, -3, 0.125}));
  EXPECT_EQ(t[1].second.dtype(), DType::BFloat16);
  EXPECT_TRUE(test::equals(t[1].second, {3}, {1, -1.5, 256}));
  EXPECT_EQ(t[2].second.dtype(), DType::Bool);
  EXPECT_TRUE(test::equals(t[2].second, {2}, {0, 1}));
  EXPECT_EQ(raw(t[2].second), std::string("\x00\x01", 2));  // stored as a proper bool
  EXPECT_EQ(t[3].second.dtype(), DType::Float16);
  EXPECT_EQ(t[3].second.shape(), (Shape{2, 0}));
  EXPECT_EQ(t[4].second.dtype(), DType::Int64);
  EXPECT_TRUE(test::equals(t[4].second, {}, {-2}));
  EXPECT_TRUE(test::equals(t[5].second, {1, 2}, {7, 255}));
  EXPECT_EQ(t[5].second.dtype(), DType::UInt8);
  EXPECT_TRUE(test::equals(t[6].second, {1}, {-2147483648.0}));
  EXPECT_EQ(t[6].second.dtype(), DType::Int32);
  EXPECT_TRUE(test::equals(t[7].second, {1}, {1.0}));
  EXPECT_TRUE(test::equals(t[8].second, {1}, {1.5}));
  EXPECT_EQ(t[8].second.dtype(), DType::Float64);
}

// ---------------------------------------------------------------------------------------------------------------
// malformed files

const std::string kEntry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string kData8(8, '\x11');

class SafetensorsCorrupt : public Safetensors {
 protected:
  void expect_invalid(const std::string& bytes, const std::string& reason) {
    const std::string p = write_bytes("bad.safetensors", bytes);
    try {
      load_safetensors(p);
      ADD_FAILURE() << "loaded a bad file; expected: " << reason;
    } catch (const ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p + "': not a valid safetensors file: "), std::string::npos) << msg;
      EXPECT_NE(msg.find(reason), std::string::npos) << "expected \"" << reason << "\" in: " << msg;
    }
  }
  void expect_invalid_header(const std::string& header, const std::string& data, const std::string& reason) {
    expect_invalid(file_bytes(header, data), reason);
  }
};

TEST_F(SafetensorsCorrupt, TruncatedOrOversizedLength) {
  expect_invalid("", "fewer than the 8-byte header length");
  expect_invalid(std::string("\x10\x00\x00", 3), "fewer than the 8-byte header length");
  expect_invalid(file_bytes("{" + kEntry + "}", kData8, 1000), "runs past the end of the file");
  expect_invalid(file_bytes("{}", "", 100'000'001), "exceeds the limit of 100000000 bytes");
  expect_invalid(file_bytes("{}", "", -2 & INT64_MAX), "exceeds the limit");
  expect_invalid(file_bytes("{" + kEntry + "}", kData8.substr(0, 5)), "past the end of the data (5 bytes)");
  expect_invalid(file_bytes("", ""), "invalid JSON in the header at byte 0");
}

TEST_F(SafetensorsCorrupt, InvalidJson) {
  expect_invalid_header("{" + kEntry, kData8, "invalid JSON in the header");
  expect_invalid_header("{" + kEntry + "} x", kData8, "after the end of the JSON value");
  expect_invalid_header("{'a':1}", "", "expected a string key");
  expect_invalid_header("{\"a\\q\":1}", "", "invalid escape");
  expect_invalid_header("{\"\xff\":1}", "", "invalid UTF-8");
  expect_invalid_header("{\"\\udc00\":1}", "", "unpaired low surrogate");
  expect_invalid_header("[]", "", "the header must be a JSON object, got array");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kData8, "expected an integer");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", kData8,
                        "does not fit in 64 bits");
}

TEST_F(SafetensorsCorrupt, MissingOrUnknownKeysAndDtypes) {
  expect_invalid_header(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", kData8, "tensor \"a\": missing key \"dtype\"");
  expect_invalid_header(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", kData8, "missing key \"shape\"");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2]}})", kData8, "missing key \"data_offsets\"");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", kData8, "unknown key \"x\"");
  expect_invalid_header(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kData8,
                        "duplicate key \"dtype\"");
  expect_invalid_header(R"({"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", kData8, "unsupported dtype \"I8\"");
  expect_invalid_header(R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", kData8,
                        "unsupported dtype \"f32\"");
  expect_invalid_header(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", kData8,
                        "\"dtype\" must be a JSON string, got number");
  expect_invalid_header(R"({"a":[1]})", kData8, "tensor \"a\" must be a JSON object, got array");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":{},"data_offsets":[0,8]}})", kData8,
                        "\"shape\" must be a JSON array, got object");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", kData8,
                        "\"shape\" must hold integers, got a JSON array");
  expect_invalid_header("{" + kEntry + "," + kEntry + "}", kData8, "duplicate tensor name \"a\"");
}

TEST_F(SafetensorsCorrupt, ShapesAndSizes) {
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kData8,
                        "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kData8,
                        "\"shape\" holds a negative value -2");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", kData8,
                        "too many elements");
  expect_invalid_header(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})",
                        kData8.substr(0, 1), "more than 12 dimensions");
}

TEST_F(SafetensorsCorrupt, OffsetsOutOfRangeOverlappingOrWithGaps) {
  const auto two = [](const std::string& a, const std::string& b) {
    return R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + a + R"(},"b":{"dtype":"F32","shape":[1],)" +
           R"("data_offsets":)" + b + "}}";
  };
  expect_invalid_header(two("[0,4]", "[4,8]"), kData8.substr(0, 6), "data_offsets end at 8, past the end");
  expect_invalid_header(two("[0,4]", "[2,6]"), kData8, "overlap the previous tensor, which ends at 4");
  expect_invalid_header(two("[0,4]", "[0,4]"), kData8, "overlap the previous tensor");
  expect_invalid_header(two("[0,4]", "[6,10]"), std::string(10, 'x'), "leave a gap after byte 4");
  expect_invalid_header(two("[4,8]", "[8,12]"), std::string(12, 'x'), "leave a gap after byte 0");
  expect_invalid_header(two("[0,4]", "[4,8]"), std::string(12, 'x'), "holds 12 bytes but the tensors cover only 8");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", kData8, "end before they begin");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", kData8, "exactly 2 integers");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", kData8, "exactly 2 integers");
  expect_invalid_header(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[-4,-4]}})", "",
                        "\"data_offsets\" holds a negative value");
  expect_invalid_header("{}", "xy", "holds 2 bytes but the tensors cover only 0");
}

TEST_F(SafetensorsCorrupt, Metadata) {
  expect_invalid_header(R"({"__metadata__":{"k":1}})", "", "metadata value for key \"k\" must be a JSON string");
  expect_invalid_header(R"({"__metadata__":{"k":null}})", "", "must be a JSON string, got null");
  expect_invalid_header(R"({"__metadata__":{"k":{"x":"y"}}})", "", "got object");
  expect_invalid_header(R"({"__metadata__":["k"]})", "", "\"__metadata__\" must be a JSON object");
  expect_invalid_header(R"({"__metadata__":{"k":"a","k":"b"}})", "", "duplicate metadata key \"k\"");
  expect_invalid_header(R"({"__metadata__":{},"__metadata__":{}})", "", "duplicate key \"__metadata__\"");
}

TEST_F(Safetensors, MissingFileOrDirectoryIsAnIoError) {
  const std::string p = path("absent.safetensors");
  try {
    load_safetensors(p);
    FAIL() << "loaded a missing file";
  } catch (const ValueError& e) {
    FAIL() << "a missing file is not a format error: " << e.what();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::strerror(ENOENT)), std::string::npos) << msg;
  }
  EXPECT_THROW(load_safetensors(dir_), ValueError);  // a directory opens but is not a regular file
}

// ---------------------------------------------------------------------------------------------------------------
// writing: argument checks and atomicity

TEST_F(Safetensors, BadArgumentsLeaveTheOldFileIntact) {
  const std::string p = path("keep.safetensors");
  save_safetensors(p, {{"x", from_vector({5}, {1}, DType::Float64)}});
  const std::string before = read_bytes(p);
  const Tensor a = from_vector({1, 2}, {2});
  EXPECT_THROW(save_safetensors(p, {{"a", a}, {"b", a}, {"a", a}}), ValueError);
  EXPECT_THROW(save_safetensors(p, {{"__metadata__", a}}), ValueError);
  EXPECT_THROW(save_safetensors(p, {{"a", Tensor()}}), ValueError);
  EXPECT_THROW(save_safetensors(p, {{"bad\xff", a}}), ValueError);
  EXPECT_THROW(save_safetensors(p, {{"a", a}}, {{"k", "\xc3"}}), ValueError);
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(files(), std::vector<std::string>{"keep.safetensors"});
}

TEST_F(Safetensors, FailedWritesRemoveTheTemporaryFile) {
  const Tensor a = from_vector({1, 2}, {2});
  const std::string missing = path("no/such/dir.safetensors");
  try {
    save_safetensors(missing, {{"a", a}});
    FAIL() << "wrote into a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ".tmp."), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
  }

  // The rename fails when the destination is a non-empty directory: the directory survives, the temp goes.
  ASSERT_EQ(mkdir(path("sub").c_str(), 0755), 0);
  write_bytes("sub/inner", "x");
  EXPECT_THROW(save_safetensors(path("sub"), {{"a", a}}), Error);
  EXPECT_EQ(files(), std::vector<std::string>{"sub"});
  EXPECT_EQ(read_bytes(path("sub/inner")), "x");
  std::remove(path("sub/inner").c_str());
  rmdir(path("sub").c_str());

  // A write that fails half-way (a file size limit stands in for a full disk): the old file stays as it was.
  const std::string p = path("old.safetensors");
  save_safetensors(p, {{"a", a}});
  const std::string before = read_bytes(p);
  rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    save_safetensors(p, {{"big", zeros({4096}, DType::Float32)}});
  } catch (const Error& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(files(), std::vector<std::string>{"old.safetensors"});
}

TEST_F(Safetensors, CudaRoundTrip) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: the CUDA save/load test needs a GPU";
  std::mt19937 rng(7);
  const Device gpu = cuda_device(0);
  Named in;
  for (DType t : test::all_dtypes())
    in.emplace_back(dtype_name(t), test::random_tensor({6, 5}, t, 0, 100, rng).to(gpu).transpose(0, 1));
  const std::string p = path("gpu.safetensors");
  save_safetensors(p, in);
  const TensorFile f = load_safetensors(p, gpu);
  ASSERT_EQ(f.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(f.tensors[i].second.device(), gpu);
    EXPECT_EQ(raw(f.tensors[i].second.to(kCPU)), raw(in[i].second.to(kCPU)));
  }
}

}  // namespace
}  // namespace iccrt
